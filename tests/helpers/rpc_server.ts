/**
 * llama.cpp's RPC server on loopback for split tests, from the RPC module build for the npm
 * prebuilt (`deno task llama-build --rpc-module`; `.ci/run` makes it). Without that build the
 * tests fail saying how to make it: they never skip.
 */

import { freePort } from "./processes.ts";
import { findFile, NAMES, prebuiltLibraryDirs } from "../../neuron/llama/library.ts";
import { rpcModuleDir } from "../../neuron/llama/rpc.ts";
import { installedRpcModule, RPC_SERVER } from "../../neuron/llama/build/rpc_module.ts";

/**
 * The npm prebuilt's folder: the module fits its layout (backends as modules), so a neuron in
 * these tests runs it as `library_path`, whatever local build this host's cache also holds.
 */
export function prebuilt(): string {
  return prebuiltLibraryDirs().find((p) => findFile(p.dir, NAMES.llama))!.dir;
}

/** The RPC module's folder; throws (the test fails) when it is not built. */
export function rpcBuild(): string {
  const dir = rpcModuleDir();
  if (dir === null || !installedRpcModule(dir)) {
    throw new Error(
      `the RPC module for the npm prebuilt is not built (looked in ${dir}): run ` +
        "`deno task llama-build --rpc-module` (.ci/run does)",
    );
  }
  return dir;
}

export interface RpcServer {
  endpoint: string;
  kill(): Promise<void>;
  log(): string;
}

/** A `ggml-rpc-server` on a free loopback port, one thread, listening when this returns. */
export async function startRpcServer(dir: string): Promise<RpcServer> {
  const port = freePort();
  const proc = new Deno.Command(`${dir}/${RPC_SERVER}`, {
    args: ["-H", "127.0.0.1", "-p", String(port), "-t", "1"],
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let out = "";
  const dec = new TextDecoder();
  const pump = async (s: ReadableStream<Uint8Array>) => {
    for await (const c of s) out += dec.decode(c, { stream: true });
  };
  void pump(proc.stdout).catch(() => {});
  void pump(proc.stderr).catch(() => {});
  // Listening once a connect succeeds.
  for (let i = 0;; i++) {
    try {
      (await Deno.connect({ hostname: "127.0.0.1", port })).close();
      break;
    } catch (e) {
      if (i >= 200) throw new Error(`${RPC_SERVER} did not listen: ${e}\n${out}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  return {
    endpoint: `127.0.0.1:${port}`,
    log: () => out,
    async kill() {
      try {
        proc.kill("SIGKILL");
      } catch {
        // gone already
      }
      await proc.status;
    },
  };
}
