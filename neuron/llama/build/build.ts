/**
 * `cortex llama-build`: builds the llama.cpp release the binding supports for this host
 * (native CPU, or CUDA 12 / 13 for the host's GPU), installs the shared libraries into the
 * cache folder of their variant, and verifies them by loading them. Optionally adds
 * llama-server (the benchmark peer) and rpc-server (split models across hosts), linked to the
 * same libraries. See DESIGN.md ("Local llama.cpp builds").
 */

import { createLogger } from "../../../core/log.ts";
import type { LibraryManifest } from "../../../core/neuron/library_manifest.ts";
import { hostCpuFlags } from "../cpu_flags.ts";
import { SUPPORTED_VERSIONS } from "../library.ts";
import { checkBuild } from "../local_builds.ts";
import { RELEASE, releasePaths, variantName } from "./cache.ts";
import { buildProgress, buildTargets, cmakeFlags, type Program } from "./cmake.ts";
import { commitInstall, copyBuildOutputs } from "./install.ts";
import { prepareSource, sourcePlan } from "./source.ts";
import { checkTools, type ToolReport } from "./tools.ts";
import { verifyLibraries } from "./verify.ts";

export interface LlamaBuildOptions {
  cuda: boolean;
  /** CMAKE_CUDA_ARCHITECTURES as given; absent = the host GPU's, from nvidia-smi. */
  arch?: string;
  rpc: boolean;
  /** Also build llama-server. */
  peer: boolean;
  jobs: number;
  /** npm tarball, source archive or folder; absent = the cache, else npm pack. */
  source?: string;
  /** Rebuild and reinstall even when a verified build of the variant is there. */
  force: boolean;
  cacheRoot: string;
  env: Record<string, string | undefined>;
}

/** How the command shows what it does. */
export interface BuildReporter {
  /** A phase begins. */
  step(text: string): void;
  /** A remark (a tool used in place of another, a skipped check). */
  note(text: string): void;
  /** The compile phase: fraction done and a detail ("120/336"). */
  progress(fraction: number, detail: string): void;
  progressEnd(): void;
}

export class BuildError extends Error {
  override name = "BuildError";
}

export interface BuildOutcome {
  variant: string;
  dir: string;
  manifest: LibraryManifest;
  /** A verified build with everything asked for was already there: nothing was built. */
  upToDate: boolean;
}

/** The tool checks alone (`--check`), with the variant the build would make. */
export async function checkBuildTools(
  o: Pick<LlamaBuildOptions, "cuda" | "arch" | "source" | "cacheRoot" | "env" | "rpc">,
): Promise<{ tools: ToolReport; variant: string | null }> {
  const paths = releasePaths(o.cacheRoot);
  const tools = await checkTools({ cuda: o.cuda, arch: o.arch, ...sourcePlan(o.source, paths) }, {
    env: o.env,
  });
  const cuda = tools.cuda;
  const variant = o.cuda && !(cuda?.archs.length) ? null : variantName({
    cuda: cuda ? { major: cuda.major, arch: cuda.archs.join("+") } : null,
    rpc: o.rpc,
  });
  return { tools, variant };
}

/** Runs a command with its output appended to `logPath`; `onLine` sees each stdout line. */
async function runLogged(
  cmd: string,
  args: string[],
  logPath: string,
  onLine: (line: string) => void = () => {},
): Promise<boolean> {
  using log = await Deno.open(logPath, { create: true, append: true });
  const enc = new TextEncoder();
  await log.write(enc.encode(`$ ${cmd} ${args.join(" ")}\n`));
  const child = new Deno.Command(cmd, { args, stdout: "piped", stderr: "piped" }).spawn();
  const pump = async (stream: ReadableStream<Uint8Array>, lines: boolean) => {
    const dec = new TextDecoder();
    let buf = "";
    for await (const chunk of stream) {
      await log.write(chunk);
      if (!lines) continue;
      buf += dec.decode(chunk, { stream: true });
      let nl: number;
      while ((nl = buf.indexOf("\n")) >= 0) {
        onLine(buf.slice(0, nl));
        buf = buf.slice(nl + 1);
      }
    }
  };
  await Promise.all([pump(child.stdout, true), pump(child.stderr, false)]);
  return (await child.status).success;
}

/** The lines of a failed step's log worth showing: its errors, then its end. */
export function failureExcerpt(log: string): string {
  const lines = log.split("\n");
  const errors = lines.filter((l) => /\berror\b|fatal/i.test(l)).slice(0, 15);
  const tail = lines.slice(-15).filter((l) => !errors.includes(l));
  return [...errors, ...(errors.length ? ["…"] : []), ...tail].join("\n");
}

async function failed(step: string, logPath: string): Promise<never> {
  const text = await Deno.readTextFile(logPath).catch(() => "");
  throw new BuildError(`${step} failed (whole log: ${logPath}):\n${failureExcerpt(text)}`);
}

export async function llamaBuild(o: LlamaBuildOptions, r: BuildReporter): Promise<BuildOutcome> {
  const paths = releasePaths(o.cacheRoot);
  r.step("checking tools");
  const { tools, variant } = await checkBuildTools(o);
  for (const n of tools.notes) r.note(n);
  if (tools.problems.length || !variant) {
    throw new BuildError(
      `missing what the build needs:\n${tools.problems.map((p) => `  - ${p}`).join("\n")}`,
    );
  }
  const cuda = tools.cuda ?? null;
  if (cuda) r.note(`CUDA ${cuda.version} (${cuda.nvcc}), architectures ${cuda.archs.join(", ")}`);
  const dest = paths.install(variant);
  const hostFlags = hostCpuFlags();
  if (hostFlags === null) {
    // The manifest records them so that no other CPU loads this native build.
    throw new BuildError("cannot read /proc/cpuinfo: the CPU's extensions are unknown");
  }

  const asked: Program[] = [
    ...(o.peer ? ["llama-server" as const] : []),
    ...(o.rpc ? ["ggml-rpc-server" as const] : []),
  ];
  const current = checkBuild(dest, SUPPORTED_VERSIONS, hostFlags);
  const had = "manifest" in current ? current.manifest.programs as Program[] : [];
  if ("manifest" in current && !o.force && asked.every((p) => had.includes(p))) {
    return { variant, dir: dest, manifest: current.manifest, upToDate: true };
  }
  // Never drop a program an earlier run built into this variant.
  const programs = [...new Set([...had, ...asked])];

  r.step("preparing the source");
  const source = await prepareSource(o.source, paths, r.note);
  r.note(
    `source: ${source.dir} (${source.from}${
      source.commit ? `, ${source.commit.slice(0, 12)}` : ""
    })`,
  );

  const build = paths.build(variant);
  await Deno.mkdir(build, { recursive: true });
  const flags = cmakeFlags({
    generator: tools.generator,
    cuda: cuda && { nvcc: cuda.nvcc, archs: cuda.archs, cublasFlags: cuda.cublasFlags },
    rpc: o.rpc,
  });
  const cmake = tools.cmake!;
  const configureLog = `${build}/cortex-configure.log`;
  r.step(`configuring ${variant} (log: ${configureLog})`);
  await Deno.writeTextFile(configureLog, "");
  if (!await runLogged(cmake, ["-S", source.dir, "-B", build, ...flags], configureLog)) {
    await failed("cmake configure", configureLog);
  }

  const targets = buildTargets(programs);
  const buildLog = `${build}/cortex-build.log`;
  r.step(`building ${targets.join(", ")} with ${o.jobs} jobs (log: ${buildLog})`);
  await Deno.writeTextFile(buildLog, "");
  const t0 = performance.now();
  const ok = await runLogged(
    cmake,
    ["--build", build, "--parallel", String(o.jobs), "--target", ...targets],
    buildLog,
    (line) => {
      const f = buildProgress(line);
      if (f !== null) r.progress(f, /^\[[^\]]*\]/.exec(line)?.[0] ?? "");
    },
  );
  r.progressEnd();
  if (!ok) await failed("the build", buildLog);
  r.note(`compiled in ${Math.round((performance.now() - t0) / 1000)} s`);

  r.step("installing and verifying (loading the libraries)");
  const staged = `${dest}.staging-${Deno.pid}`;
  await Deno.remove(staged, { recursive: true }).catch(() => {});
  try {
    const files = await copyBuildOutputs(`${build}/bin`, staged, programs);
    let v;
    try {
      v = verifyLibraries(staged, createLogger("llama.cpp"));
    } catch (e) {
      throw new BuildError(`the build does not load: ${(e as Error).message}`);
    }
    if (cuda && cuda.gpus.length && !v.devices.some((d) => d.backend === "CUDA")) {
      throw new BuildError(
        `the build loads but registers no CUDA device (devices: ${
          v.devices.map((d) => d.name).join(", ")
        }) although nvidia-smi lists ${cuda.gpus.join(", ")}: check the driver`,
      );
    }
    const manifest: LibraryManifest = {
      schema: 1,
      llama_cpp: RELEASE.version,
      variant,
      backend: cuda ? "cuda" : "cpu",
      cuda: cuda && { version: cuda.version, arch: cuda.archs.join(";") },
      rpc: o.rpc,
      source: { from: source.from, commit: source.commit },
      cmake_flags: flags,
      cpu_flags: hostFlags,
      built_at: new Date().toISOString(),
      files,
      programs,
      verified: {
        at: new Date().toISOString(),
        version: v.version,
        backends_layout: v.backendsLayout,
        devices: v.devices.map((d) => d.name),
        system_info: v.systemInfo,
      },
    };
    await commitInstall(staged, dest, manifest);
    return { variant, dir: dest, manifest, upToDate: false };
  } finally {
    await Deno.remove(staged, { recursive: true }).catch(() => {});
  }
}
