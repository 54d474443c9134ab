/**
 * `llama-build --rpc-module`: llama.cpp's RPC backend for the npm prebuilt, and rpc-server,
 * without building llama.cpp itself. The prebuilt is a GGML_BACKEND_DL build (each backend a
 * module that ggml loads by path), so the RPC backend can be one more module from the same
 * v0.4.0 source: configured with the prebuilt's layout (modules, unversioned sonames) and only
 * the targets ggml-rpc and ggml-rpc-server built (18 compile steps, against ~340 for a whole
 * build). The neuron `ggml_backend_load`s the module beside the prebuilt it runs; the server
 * gets the prebuilt's own libggml-base and CPU modules, so it runs the very kernels the neuron
 * runs. This is what CI builds (`.ci/run`): about a minute on two cores.
 *
 * Installed into <cache>/llama/v0.4.0/prebuilt-rpc/ with `rpc-module.json` (no manifest.json:
 * it is not a library set a neuron may run on its own).
 */

import type { BuildReporter } from "./build.ts";
import { BuildError, failureExcerpt } from "./build.ts";
import { RELEASE, releasePaths, RPC_MODULE_VARIANT } from "./cache.ts";
import { prepareSource, sourcePlan } from "./source.ts";
import { checkTools } from "./tools.ts";

export const RPC_MODULE_FILE = "rpc-module.json";
/** The module and the server, as installed. */
export const RPC_MODULE = "libggml-rpc.so";
export const RPC_SERVER = "ggml-rpc-server";

export interface RpcModuleOptions {
  /** The npm prebuilt's folder (libggml-base.so, libggml-cpu-*.so). */
  prebuiltDir: string;
  jobs: number;
  source?: string;
  force: boolean;
  cacheRoot: string;
  env: Record<string, string | undefined>;
}

export interface RpcModuleRecord {
  schema: 1;
  llama_cpp: string;
  source: { from: string; commit: string | null };
  prebuilt_dir: string;
  cmake_flags: string[];
  built_at: string;
  /** File name → size: a changed or missing file means rebuild. */
  files: Record<string, number>;
}

/** The configuration: the prebuilt's layout, the RPC backend only, no CPU backend. */
export function rpcModuleFlags(generator: "Ninja" | "Unix Makefiles"): string[] {
  return [
    "-G",
    generator,
    "-DCMAKE_BUILD_TYPE=Release",
    "-DBUILD_SHARED_LIBS=ON",
    // Backends as modules, as in the prebuilt; its CPU modules serve (GGML_CPU off here).
    "-DGGML_BACKEND_DL=ON",
    "-DGGML_CPU=OFF",
    "-DGGML_RPC=ON",
    "-DGGML_RPC_RDMA=OFF",
    "-DGGML_NATIVE=OFF",
    "-DLLAMA_BUILD_IS_DEV=OFF",
    "-DLLAMA_BUILD_TESTS=OFF",
    "-DLLAMA_BUILD_EXAMPLES=OFF",
    "-DLLAMA_BUILD_TOOLS=ON",
    "-DLLAMA_BUILD_SERVER=OFF",
    "-DLLAMA_BUILD_APP=OFF",
    "-DLLAMA_BUILD_UI=OFF",
    "-DLLAMA_USE_PREBUILT_UI=OFF",
    "-DLLAMA_OPENSSL=OFF",
    // The prebuilt's sonames are unversioned (libggml-base.so): the module's dependency must
    // name the very library the neuron already loaded, or the loader would map a second copy.
    "-DCMAKE_PLATFORM_NO_VERSIONED_SONAME=ON",
    "-DCMAKE_BUILD_WITH_INSTALL_RPATH=ON",
    "-DCMAKE_INSTALL_RPATH=$ORIGIN",
  ];
}

/** The installed folder when it is complete and unchanged; else null. */
export function installedRpcModule(dir: string): RpcModuleRecord | null {
  let rec: RpcModuleRecord;
  try {
    rec = JSON.parse(Deno.readTextFileSync(`${dir}/${RPC_MODULE_FILE}`));
  } catch {
    return null;
  }
  for (const [name, size] of Object.entries(rec.files ?? {})) {
    try {
      if (Deno.statSync(`${dir}/${name}`).size !== size) return null;
    } catch {
      return null;
    }
  }
  return rec.files?.[RPC_MODULE] && rec.files?.[RPC_SERVER] ? rec : null;
}

async function run(cmd: string, args: string[], logPath: string): Promise<void> {
  const out = await new Deno.Command(cmd, { args, stdout: "piped", stderr: "piped" }).output();
  const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
  await Deno.writeTextFile(logPath, `$ ${cmd} ${args.join(" ")}\n${text}`, { append: true });
  if (!out.success) {
    throw new BuildError(`${cmd} failed (whole log: ${logPath}):\n${failureExcerpt(text)}`);
  }
}

export async function buildRpcModule(
  o: RpcModuleOptions,
  r: BuildReporter,
): Promise<{ dir: string; upToDate: boolean; record: RpcModuleRecord }> {
  const paths = releasePaths(o.cacheRoot);
  const dest = paths.install(RPC_MODULE_VARIANT);
  const had = installedRpcModule(dest);
  if (had && !o.force) return { dir: dest, upToDate: true, record: had };
  for (const f of ["libggml-base.so"]) {
    try {
      Deno.statSync(`${o.prebuiltDir}/${f}`);
    } catch {
      throw new BuildError(`${o.prebuiltDir} holds no ${f}: is the npm prebuilt installed?`);
    }
  }
  r.step("checking tools");
  const tools = await checkTools({ cuda: false, ...sourcePlan(o.source, paths) }, { env: o.env });
  for (const n of tools.notes) r.note(n);
  if (tools.problems.length) {
    throw new BuildError(
      `missing what the build needs:\n${tools.problems.map((p) => `  - ${p}`).join("\n")}`,
    );
  }
  r.step("preparing the source");
  const source = await prepareSource(o.source, paths, r.note);
  const build = paths.build(RPC_MODULE_VARIANT);
  await Deno.mkdir(build, { recursive: true });
  const flags = rpcModuleFlags(tools.generator);
  const log = `${build}/cortex-build.log`;
  await Deno.writeTextFile(log, "");
  r.step(`configuring the RPC module (log: ${log})`);
  await run(tools.cmake!, ["-S", source.dir, "-B", build, ...flags], log);
  r.step(`building ggml-rpc, ${RPC_SERVER} with ${o.jobs} jobs`);
  const t0 = performance.now();
  await run(
    tools.cmake!,
    ["--build", build, "--parallel", String(o.jobs), "--target", "ggml-rpc", RPC_SERVER],
    log,
  );
  r.note(`compiled in ${Math.round((performance.now() - t0) / 1000)} s`);

  const staged = `${dest}.staging-${Deno.pid}`;
  await Deno.remove(staged, { recursive: true }).catch(() => {});
  await Deno.mkdir(staged, { recursive: true });
  try {
    // Built: the module, the server and its tiny backend registry (libggml.so, which the
    // prebuilt names libggml.v0.4.0.so). From the prebuilt: ggml-base and the CPU modules.
    const copies: [string, string][] = [
      [`${build}/bin/${RPC_MODULE}`, RPC_MODULE],
      [`${build}/bin/${RPC_SERVER}`, RPC_SERVER],
      [`${build}/bin/libggml.so`, "libggml.so"],
      [`${o.prebuiltDir}/libggml-base.so`, "libggml-base.so"],
    ];
    for (const e of Deno.readDirSync(o.prebuiltDir)) {
      if (/^libggml-cpu-.+\.so$/.test(e.name)) copies.push([`${o.prebuiltDir}/${e.name}`, e.name]);
    }
    const files: Record<string, number> = {};
    for (const [from, name] of copies) {
      await Deno.copyFile(from, `${staged}/${name}`);
      files[name] = (await Deno.stat(`${staged}/${name}`)).size;
    }
    // The server must start: it loads the module and a CPU module from its folder.
    const probe = await new Deno.Command(`${staged}/${RPC_SERVER}`, {
      args: ["--help"],
      stdout: "piped",
      stderr: "piped",
    }).output();
    const said = new TextDecoder().decode(probe.stderr) + new TextDecoder().decode(probe.stdout);
    if (!probe.success || !/loaded RPC backend/.test(said) || !/loaded CPU backend/.test(said)) {
      throw new BuildError(`${RPC_SERVER} does not start with its backends:\n${said}`);
    }
    const record: RpcModuleRecord = {
      schema: 1,
      llama_cpp: RELEASE.version,
      source: { from: source.from, commit: source.commit },
      prebuilt_dir: o.prebuiltDir,
      cmake_flags: flags,
      built_at: new Date().toISOString(),
      files,
    };
    await Deno.writeTextFile(`${staged}/${RPC_MODULE_FILE}`, JSON.stringify(record, null, 2));
    const old = `${dest}.old-${Date.now()}`;
    const hadOld = await Deno.rename(dest, old).then(() => true, () => false);
    await Deno.rename(staged, dest);
    if (hadOld) await Deno.remove(old, { recursive: true }).catch(() => {});
    return { dir: dest, upToDate: false, record };
  } finally {
    await Deno.remove(staged, { recursive: true }).catch(() => {});
  }
}
