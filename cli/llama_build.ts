/**
 * `deno task llama-build` / `cortex llama-build`: builds llama.cpp for this host and installs it
 * where the neuron looks first (neuron/llama/build/). Options are parsed with node:util so this
 * entry needs no npm package but zod: the GPU benchmark runs it on hosts without network.
 *
 * Exit codes: 0 built (or already built), 1 the build failed or a tool is missing, 2 bad usage.
 */

import { parseArgs } from "node:util";
import { CliError, EXIT, usageError } from "./cli_error.ts";
import {
  BuildError,
  type BuildReporter,
  cacheRoot,
  checkBuildTools,
  llamaBuild,
  type LlamaBuildOptions,
  RELEASE,
  SourceError,
} from "../neuron/llama/build/mod.ts";
import { buildRpcModule, RPC_MODULE, RPC_SERVER } from "../neuron/llama/build/rpc_module.ts";
import { findFile, NAMES, prebuiltLibraryDirs } from "../neuron/llama/library.ts";

export const LLAMA_BUILD_USAGE = `Usage: llama-build [options]

Builds llama.cpp ${RELEASE.version} (the release the neuron's binding supports) for this host from
the source in npm's ${RELEASE.npmPackage}@${RELEASE.npmVersion}, installs the shared libraries into
<cache>/llama/v${RELEASE.version}/<variant>/ and verifies them by loading them. The neuron then
prefers that build over the npm prebuilt (unless library_path is set).

  --cuda              build the CUDA backend (CUDA 12 or 13: the nvcc found at $CUDACXX, on
                      PATH, at $CUDA_HOME/bin or /usr/local/cuda/bin)
  --arch <list>       CUDA architectures, e.g. 90a (H100/H200), 89 (L4, RTX 4090), 86;90a
                      (default: the GPUs nvidia-smi lists)
  --rpc               also the RPC backend and ggml-rpc-server (models split across hosts)
  --rpc-module        only the RPC backend as a module for the npm prebuilt, and
                      ggml-rpc-server (no libraries of its own: about a minute; what CI builds)
  --peer              also llama-server, linked to the same libraries (the benchmark peer)
  --jobs <n>          parallel compile jobs (default: the number of CPUs)
  --source <path>     ${RELEASE.npmPackage}-${RELEASE.npmVersion}.tgz (from \`npm pack\`), a llama.cpp
                      ${RELEASE.version} source archive (.tar.xz, .tar.gz) or folder; default: the
                      cached tarball, else \`npm pack\` (the only network access)
  --cache-dir <dir>   cache root (default $CORTEX_CACHE_DIR, $XDG_CACHE_HOME/cortex, ~/.cache/cortex)
  --force             rebuild even when a verified build of the variant is there
  --check             check the tools (and --source) only, and say what is missing
  -h, --help          show this help`;

interface Parsed extends LlamaBuildOptions {
  check: boolean;
  rpcModule: boolean;
}

/** Parses the arguments after `llama-build`; null for --help. Throws CliError (exit 2). */
export function parseLlamaBuildArgs(
  args: string[],
  env: Record<string, string | undefined>,
): Parsed | null {
  let values;
  try {
    values = parseArgs({
      args,
      strict: true,
      allowPositionals: false,
      options: {
        cuda: { type: "boolean" },
        arch: { type: "string" },
        rpc: { type: "boolean" },
        "rpc-module": { type: "boolean" },
        peer: { type: "boolean" },
        jobs: { type: "string" },
        source: { type: "string" },
        "cache-dir": { type: "string" },
        force: { type: "boolean" },
        check: { type: "boolean" },
        help: { type: "boolean", short: "h" },
      },
    }).values;
  } catch (e) {
    throw usageError(`${(e as Error).message}\n\n${LLAMA_BUILD_USAGE}`);
  }
  if (values.help) return null;
  if (values.arch !== undefined && !values.cuda) throw usageError("--arch: only with --cuda");
  if (values["rpc-module"] && (values.cuda || values.rpc || values.peer)) {
    throw usageError(
      "--rpc-module: builds for the npm prebuilt only (not with --cuda, --rpc, --peer)",
    );
  }
  let jobs = navigator.hardwareConcurrency;
  if (values.jobs !== undefined) {
    if (!/^\d+$/.test(values.jobs) || Number(values.jobs) < 1) {
      throw usageError(`--jobs: expected a whole number of at least 1, got "${values.jobs}"`);
    }
    jobs = Number(values.jobs);
  }
  let root: string;
  try {
    root = values["cache-dir"] ?? cacheRoot(env);
  } catch (e) {
    throw usageError((e as Error).message);
  }
  return {
    cuda: values.cuda ?? false,
    arch: values.arch,
    rpc: values.rpc ?? false,
    peer: values.peer ?? false,
    jobs,
    source: values.source,
    force: values.force ?? false,
    check: values.check ?? false,
    rpcModule: values["rpc-module"] ?? false,
    cacheRoot: root,
    env,
  };
}

const elapsed = (t0: number) => {
  const s = Math.round((performance.now() - t0) / 1000);
  return s >= 60 ? `${Math.floor(s / 60)}m ${String(s % 60).padStart(2, "0")}s` : `${s}s`;
};

/** Lines on stdout; the compile phase as a bar on a terminal, else a line every 5%. */
async function reporter(t0: number): Promise<BuildReporter> {
  const line = (text: string) => console.log(`[${elapsed(t0).padStart(7)}] ${text}`);
  const interactive = Deno.stdout.isTerminal();
  // cli-progress only when it can draw: a host without a terminal needs no npm package for it.
  const bars = interactive ? await import("./progress.ts") : null;
  let bar: { update(f: number | null, d?: string): void; stop(): void } | null = null;
  let lastStep = -1;
  return {
    step: (text) => line(text),
    note: (text) => line(`  ${text}`),
    progress(fraction, detail) {
      if (bars) {
        bar ??= bars.createProgress("  compiling", bars.stdoutOutput());
        bar.update(fraction, detail);
        return;
      }
      const step = Math.floor(fraction * 20);
      if (step <= lastStep) return;
      lastStep = step;
      line(`  compiling: ${Math.floor(fraction * 100)}% ${detail}`);
    },
    progressEnd() {
      bar?.stop();
      bar = null;
    },
  };
}

async function rpcModuleCommand(o: Parsed, t0: number): Promise<void> {
  const prebuilt = prebuiltLibraryDirs().find((p) => findFile(p.dir, NAMES.llama));
  if (!prebuilt) throw new CliError("no npm prebuilt of llama.cpp here: run `deno install`");
  let out;
  try {
    out = await buildRpcModule({ ...o, prebuiltDir: prebuilt.dir }, await reporter(t0));
  } catch (e) {
    if (e instanceof BuildError || e instanceof SourceError) throw new CliError(e.message);
    throw e;
  }
  console.log(
    out.upToDate
      ? `the RPC module for the npm prebuilt is already built (--force rebuilds)`
      : `built the RPC module for the npm prebuilt in ${elapsed(t0)}`,
  );
  console.log(
    `  module: ${out.dir}/${RPC_MODULE} (a neuron on the prebuilt loads it for rpc_servers)`,
  );
  console.log(`  server: ${out.dir}/${RPC_SERVER}`);
}

/** Runs the command; throws CliError with the exit code when it does not succeed. */
export async function llamaBuildCommand(args: string[]): Promise<void> {
  const o = parseLlamaBuildArgs(args, Deno.env.toObject());
  if (!o) {
    console.log(LLAMA_BUILD_USAGE);
    return;
  }
  if (o.check) {
    const { tools, variant } = await checkBuildTools(o);
    console.log(
      `cmake: ${tools.cmake ?? "missing"}${tools.cmakeVersion ? ` (${tools.cmakeVersion})` : ""}`,
    );
    console.log(`C++ compiler: ${tools.cxx ?? "missing"}; generator: ${tools.generator}`);
    if (tools.cuda) {
      console.log(
        `CUDA: ${tools.cuda.version} (${tools.cuda.nvcc}); architectures: ${
          tools.cuda.archs.join(", ") || "unknown"
        }; GPUs: ${tools.cuda.gpus.join(", ") || "none seen"}`,
      );
    }
    for (const n of tools.notes) console.log(`note: ${n}`);
    if (variant) console.log(`variant: ${variant}`);
    if (tools.problems.length) {
      throw new CliError(
        `missing what the build needs:\n${tools.problems.map((p) => `  - ${p}`).join("\n")}`,
      );
    }
    console.log("everything the build needs is here");
    return;
  }
  const t0 = performance.now();
  if (o.rpcModule) return await rpcModuleCommand(o, t0);
  let outcome;
  try {
    outcome = await llamaBuild(o, await reporter(t0));
  } catch (e) {
    if (e instanceof BuildError || e instanceof SourceError) throw new CliError(e.message);
    throw e;
  }
  const m = outcome.manifest;
  console.log(
    outcome.upToDate
      ? `llama.cpp ${m.llama_cpp} ${outcome.variant} is already built and verified (--force rebuilds)`
      : `built and verified llama.cpp ${m.verified.version} ${outcome.variant} in ${elapsed(t0)}`,
  );
  console.log(`  libraries: ${outcome.dir}`);
  console.log(
    `  backends ${
      m.verified.backends_layout === "linked"
        ? "linked into libggml.so"
        : "loaded from libggml-*.so"
    }; devices: ${m.verified.devices.join(", ")}`,
  );
  if (m.programs.length) {
    console.log(`  programs: ${m.programs.map((p) => `${outcome.dir}/${p}`).join(", ")}`);
  }
  console.log(neuronNote(o.cacheRoot, o.env, outcome.dir));
}

/**
 * How a neuron finds the build: by itself from the cache it looks in (the same environment's),
 * else only when told, as a `--cache-dir` elsewhere is not where it looks.
 */
export function neuronNote(
  root: string,
  env: Record<string, string | undefined>,
  dir: string,
): string {
  let neuronRoot: string | undefined;
  try {
    neuronRoot = cacheRoot(env);
  } catch {
    neuronRoot = undefined;
  }
  if (neuronRoot !== root) {
    return `A neuron does not look in ${root} by itself: start it with CORTEX_CACHE_DIR=${root}, ` +
      `or set library_path = "${dir}" in its neuron.toml.`;
  }
  return `The neuron loads this build from now on (a verified local build comes before the npm ` +
    `prebuilt; library_path still overrides both). A neuron running as another user ` +
    `(systemd) needs: library_path = "${dir}"`;
}

if (import.meta.main) {
  try {
    await llamaBuildCommand(Deno.args);
  } catch (e) {
    if (!(e instanceof CliError)) throw e;
    console.error(`llama-build: ${e.message}`);
    Deno.exit(e.exitCode);
  }
  Deno.exit(EXIT.ok);
}
