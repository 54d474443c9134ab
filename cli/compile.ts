/**
 * `deno task compile [cortex] [neuron] [--target <triple>] [--out-dir <dir>] [--no-check]`:
 * builds the self-contained binaries that systemd/*.service run (default: both, into dist/).
 *
 * What is passed to `deno compile`, and why:
 * - `--allow-net --allow-read --allow-write --allow-env --allow-ffi --allow-sys`, baked into the
 *   binary (it never prompts): net to listen and to reach neurons / Hugging Face; read for the
 *   config, GGUF files and libraries; write for model pulls; env for the `CORTEX_*` / `NEURON_*`
 *   overrides; ffi for llama.cpp and NVML; sys for the hostname and memory figures. The gateway
 *   gets the same set because `cortex serve` with no [[neurons]] runs an embedded neuron.
 *   `cortex` alone also gets --allow-run: `cortex llama-build` runs cmake, git, tar and npm.
 *   The neuron starts no processes.
 * - `--include neuron/engine/worker.ts`: the device worker is started with
 *   `new Worker(new URL("./worker.ts", import.meta.url))`, which deno compile does not follow;
 *   without it the binary fails when the first device worker starts.
 * - `--node-modules-dir=none --exclude-unused-npm`: embed only the npm packages the entry point
 *   imports, not the whole lockfile (the test-only SDKs, or the llama.cpp .so files, which
 *   dlopen could not use from inside the binary anyway: library_path must name a real folder).
 * - `--exclude <npm cache>/bintrees/<version>/test`: deno compile 2.9.6 overflows its stack on
 *   bintrees' 2 MB extension-less data file test/perf/100k (prom-client → tdigest → bintrees).
 * - `--target <triple>` when given (Linux only: the units and the llama.cpp binding are).
 * - `--output <out-dir>/<name>`.
 *
 * deno compile builds on `denort`, a runtime it downloads once per version and target from
 * dl.deno.land into $DENO_DIR/dl. Without internet that download fails; this script then says
 * so and how to provide the runtime, and exits 1. Usage errors exit 2.
 */

import { parseArgs } from "node:util";

export const TARGETS = ["x86_64-unknown-linux-gnu", "aarch64-unknown-linux-gnu"] as const;
export type Target = (typeof TARGETS)[number];

export interface BinarySpec {
  name: string;
  /** Entry module, relative to the project root. */
  entry: string;
  permissions: string[];
  /** Modules deno compile cannot discover by itself (worker entry points). */
  include: string[];
}

const SERVER_PERMISSIONS = [
  "--allow-net",
  "--allow-read",
  "--allow-write",
  "--allow-env",
  "--allow-ffi",
  "--allow-sys",
];

export const BINARIES: readonly BinarySpec[] = [
  {
    name: "cortex",
    entry: "cli/cortex.ts",
    permissions: [...SERVER_PERMISSIONS, "--allow-run"],
    // The dashboard's page is read from disk at start, not imported.
    include: ["neuron/engine/worker.ts", "gateway/dashboard/page"],
  },
  {
    name: "neuron",
    entry: "cli/neuron.ts",
    permissions: SERVER_PERMISSIONS,
    include: ["neuron/engine/worker.ts"],
  },
];

/** Files in npm packages that deno compile chokes on: (package, path inside it). */
const UNCOMPILABLE = [{ pkg: "bintrees", path: "test" }];

export interface CompileOptions {
  /** Project root: entries and includes are relative to it; deno runs there. */
  root: string;
  /** Output folder, absolute or relative to `root`. */
  outDir: string;
  target?: Target;
  /** Type-check before compiling (deno compile's default). */
  check: boolean;
  /** The deno executable; default the one running this script. */
  deno?: string;
  /** Extra environment for the deno child processes. */
  env?: Record<string, string>;
  /** Echo deno's progress output (default true). */
  echo?: boolean;
}

export interface CompileResult {
  name: string;
  ok: boolean;
  output: string;
  /** Our explanation when the runtime download failed. */
  runtimeDownloadFailure?: string;
}

export class UsageError extends Error {
  override name = "UsageError";
}

export interface CliRequest {
  binaries: BinarySpec[];
  outDir: string;
  target?: Target;
  check: boolean;
  help: boolean;
}

export const USAGE = `Usage: deno task compile [cortex] [neuron] [options]

Builds self-contained binaries with deno compile (default: both).

  --target <triple>   ${TARGETS.join(" | ")} (default: this host)
  --out-dir <dir>     where the binaries go (default: dist)
  --no-check          skip type-checking (when \`deno task check\` already ran)
  -h, --help          show this help`;

/** Parses the command line; throws UsageError naming the bad argument. */
export function parseCli(args: string[]): CliRequest {
  let parsed;
  try {
    parsed = parseArgs({
      args,
      strict: true,
      allowPositionals: true,
      options: {
        target: { type: "string" },
        "out-dir": { type: "string" },
        "no-check": { type: "boolean" },
        help: { type: "boolean", short: "h" },
      },
    });
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  const { values, positionals } = parsed;
  const target = values.target;
  if (target !== undefined && !(TARGETS as readonly string[]).includes(target)) {
    throw new UsageError(`--target: unknown "${target}", expected one of ${TARGETS.join(", ")}`);
  }
  const binaries = positionals.length ? [] : [...BINARIES];
  for (const name of positionals) {
    const spec = BINARIES.find((b) => b.name === name);
    if (!spec) {
      throw new UsageError(
        `unknown binary "${name}", expected ${BINARIES.map((b) => b.name).join(" or ")}`,
      );
    }
    if (!binaries.includes(spec)) binaries.push(spec);
  }
  const outDir = values["out-dir"] ?? "dist";
  if (!outDir) throw new UsageError("--out-dir: expected a directory path");
  return {
    binaries,
    outDir,
    target: target as Target | undefined,
    check: !values["no-check"],
    help: values.help ?? false,
  };
}

/** The `deno compile` arguments for one binary (excludes found by `uncompilableFiles`). */
export function compileArgs(
  spec: BinarySpec,
  opts: Pick<CompileOptions, "outDir" | "target" | "check">,
  excludes: string[] = [],
): string[] {
  return [
    "compile",
    "--node-modules-dir=none",
    "--exclude-unused-npm",
    ...(opts.check ? [] : ["--no-check"]),
    ...spec.permissions,
    ...spec.include.flatMap((m) => ["--include", m]),
    ...excludes.flatMap((p) => ["--exclude", p]),
    ...(opts.target ? ["--target", opts.target] : []),
    "--output",
    `${opts.outDir}/${spec.name}`,
    spec.entry,
  ];
}

interface DenoInfo {
  denoDir: string;
  npmCache: string;
}

async function denoInfo(deno: string, env: Record<string, string>): Promise<DenoInfo> {
  const out = await new Deno.Command(deno, { args: ["info", "--json"], env, stderr: "inherit" })
    .output();
  if (!out.success) throw new Error("`deno info --json` failed");
  return JSON.parse(new TextDecoder().decode(out.stdout));
}

/** Paths of UNCOMPILABLE files present in the npm cache (one folder per registry host). */
export async function uncompilableFiles(npmCache: string): Promise<string[]> {
  const found: string[] = [];
  const dirs = async (p: string) => {
    try {
      return (await Array.fromAsync(Deno.readDir(p))).filter((e) => e.isDirectory).map((e) =>
        `${p}/${e.name}`
      );
    } catch {
      return [];
    }
  };
  for (const registry of await dirs(npmCache)) {
    for (const { pkg, path } of UNCOMPILABLE) {
      for (const version of await dirs(`${registry}/${pkg}`)) {
        const p = `${version}/${path}`;
        if (await Deno.stat(p).then(() => true, () => false)) found.push(p);
      }
    }
  }
  return found;
}

/**
 * Recognises deno compile's failure to download its runtime and explains it; null for any
 * other output.
 */
export function explainRuntimeDownloadFailure(
  output: string,
  ctx: { denoDir: string; version: string; target: string },
): string | null {
  // deno colours its output; match on the plain text.
  // deno-lint-ignore no-control-regex
  const plain = output.replace(/\x1b\[[0-9;]*m/g, "");
  if (!/Setting up base binary|denort-[\w-]+\.zip/.test(plain)) return null;
  const url = plain.match(/https:\/\/\S*denort-[\w-]+\.zip/)?.[0] ??
    `https://dl.deno.land/release/v${ctx.version}/denort-${ctx.target}.zip`;
  const zip = url.split("/").pop()!;
  const cached = `${ctx.denoDir}/dl/release/v${ctx.version}/${zip}`;
  const cause = plain.split("\n").map((l) => l.trim().replace(/^\d+: /, ""))
    .find((l) => /error sending request|dns error|connect|timed out|certificate|status/i.test(l));
  return [
    "deno compile could not get its runtime, so no binary was built.",
    `  It needs ${zip} (denort, the Deno runtime every compiled binary is built on)`,
    `  and tried to download it from ${url}`,
    ...(cause ? [`  which failed: ${cause}`] : []),
    "  This machine cannot reach dl.deno.land. Any one of these fixes it:",
    `  - run \`deno task compile\` on a machine with internet access and Deno ${ctx.version};`,
    `  - copy ${zip} from a machine that has compiled with Deno ${ctx.version}`,
    `    (it keeps it under $DENO_DIR/dl/release/v${ctx.version}/), or download it elsewhere,`,
    `    to ${cached} (this machine's DENO_DIR) and run this again;`,
    "  - or unzip it and run this with DENORT_BIN=/path/to/denort.",
  ].join("\n");
}

/** Runs deno compile for each binary in turn; stops at the first failure. */
export async function compileBinaries(
  specs: readonly BinarySpec[],
  opts: CompileOptions,
): Promise<CompileResult[]> {
  const deno = opts.deno ?? Deno.execPath();
  const env = opts.env ?? {};
  const echo = opts.echo ?? true;
  // The npm packages must be in the global cache before their bad files can be excluded.
  const cache = await new Deno.Command(deno, {
    args: [
      "cache",
      "--node-modules-dir=none",
      ...specs.flatMap((s) => [s.entry, ...s.include.filter((m) => m.endsWith(".ts"))]),
    ],
    cwd: opts.root,
    env,
    stdout: "inherit",
    stderr: "inherit",
  }).output();
  if (!cache.success) {
    return [{ name: specs[0]?.name ?? "", ok: false, output: "`deno cache` failed" }];
  }
  const info = await denoInfo(deno, env);
  const excludes = await uncompilableFiles(info.npmCache);
  await Deno.mkdir(opts.outDir.startsWith("/") ? opts.outDir : `${opts.root}/${opts.outDir}`, {
    recursive: true,
  });
  const results: CompileResult[] = [];
  for (const spec of specs) {
    const child = new Deno.Command(deno, {
      args: compileArgs(spec, opts, excludes),
      cwd: opts.root,
      env,
      stdout: "inherit",
      stderr: "piped",
    }).spawn();
    let output = "";
    const decoder = new TextDecoder();
    for await (const chunk of child.stderr) {
      output += decoder.decode(chunk, { stream: true });
      if (echo) await Deno.stderr.write(chunk);
    }
    const status = await child.status;
    const result: CompileResult = { name: spec.name, ok: status.success, output };
    if (!status.success) {
      const explained = explainRuntimeDownloadFailure(output, {
        denoDir: info.denoDir,
        version: Deno.version.deno,
        target: opts.target ?? Deno.build.target,
      });
      if (explained) result.runtimeDownloadFailure = explained;
    }
    results.push(result);
    if (!status.success) break;
  }
  return results;
}

export async function main(args: string[]): Promise<number> {
  let req: CliRequest;
  try {
    req = parseCli(args);
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    console.error(`error: ${e.message}\n\n${USAGE}`);
    return 2;
  }
  if (req.help) {
    console.log(USAGE);
    return 0;
  }
  const root = new URL("../", import.meta.url).pathname.replace(/\/$/, "");
  const results = await compileBinaries(req.binaries, {
    root,
    outDir: req.outDir,
    target: req.target,
    check: req.check,
  });
  for (const r of results) {
    if (r.ok) console.log(`built ${req.outDir}/${r.name}`);
    else if (r.runtimeDownloadFailure) console.error(`\nerror: ${r.runtimeDownloadFailure}`);
    else console.error(`\nerror: building ${r.name} failed (deno compile's output is above)`);
  }
  return results.length === req.binaries.length && results.every((r) => r.ok) ? 0 : 1;
}

if (import.meta.main) Deno.exit(await main(Deno.args));
