/**
 * llama.cpp's RPC backend: devices of other hosts, each served by an `rpc-server`, that a model
 * split may use after the neuron's own. Process-wide (the backend registry is), so the main
 * thread attaches the servers before any device worker starts.
 *
 * A llama.cpp build with RPC on (`llama-build --rpc`) has the backend linked in and registered;
 * for the npm prebuilt, `llama-build --rpc-module` builds it as a module from the same source
 * (build/rpc_module.ts), loaded from `rpc_library` or that command's cache folder.
 */

import type { GuardReport } from "./rpc_guard_worker.ts";
import type { LlamaLibrary } from "./library.ts";
import { processCacheRoot, releasePaths, RPC_MODULE_VARIANT } from "./build/cache.ts";
import { RPC_MODULE } from "./build/rpc_module.ts";

export class RpcError extends Error {
  override name = "RpcError";
}

/** Where `llama-build --rpc-module` installs the module and ggml-rpc-server (null: no cache). */
export function rpcModuleDir(): string | null {
  const root = processCacheRoot();
  return root === undefined ? null : releasePaths(root).install(RPC_MODULE_VARIANT);
}

const RPC_SYMBOLS = {
  ggml_backend_reg_by_name: { parameters: ["buffer"], result: "pointer" },
  ggml_backend_load: { parameters: ["buffer"], result: "pointer" },
  ggml_backend_register: { parameters: ["pointer"], result: "void" },
} as const satisfies Deno.ForeignLibraryInterface;
const BASE_SYMBOLS = {
  ggml_backend_reg_get_proc_address: { parameters: ["pointer", "buffer"], result: "pointer" },
  ggml_backend_reg_dev_count: { parameters: ["pointer"], result: "usize" },
  ggml_backend_reg_dev_get: { parameters: ["pointer", "usize"], result: "pointer" },
  ggml_backend_dev_name: { parameters: ["pointer"], result: "pointer" },
  // A call to the server: off-thread, so one that never answers cannot hang the caller.
  ggml_backend_dev_memory: {
    parameters: ["pointer", "buffer", "buffer"],
    result: "void",
    nonblocking: true,
  },
} as const satisfies Deno.ForeignLibraryInterface;
/** ggml_backend_rpc_add_server: connects and asks the server for its devices. */
const ADD_SERVER = { parameters: ["buffer"], result: "pointer", nonblocking: true } as const;

const cstr = (s: string) => new TextEncoder().encode(s + "\0");

/** One device of an RPC server, as attached. */
export interface RpcDevice {
  endpoint: string;
  /** ggml's name ("RPC0", "RPC1", … in the order attached). */
  name: string;
  memoryFreeBytes: number;
  memoryTotalBytes: number;
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const t = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new RpcError(`rpc_servers: ${what}: no answer in ${ms / 1000} s`)),
      ms,
    );
  });
  return Promise.race([p, t]).finally(() => clearTimeout(timer));
}

/**
 * The RPC backend's registry entry: already registered (a build with RPC on), else loaded as a
 * module. The module is built for the npm prebuilt's layout (backends as modules: "dynamic");
 * a library with its backends linked in cannot take it: there
 * the way is a build with it (`llama-build --rpc`), or an explicit `rpc_library`.
 */
function rpcBackend(lib: LlamaLibrary, modulePath?: string): Deno.PointerValue {
  const ggml = Deno.dlopen(findIn(lib.dir, ["libggml.v0.4.0.so", "libggml.so"]), RPC_SYMBOLS);
  const have = ggml.symbols.ggml_backend_reg_by_name(cstr("RPC"));
  if (have !== null) return have;
  // Errors name the setting at fault (the neuron prints them after the config's path).
  const key = modulePath ? "rpc_library" : "rpc_servers";
  const dir = rpcModuleDir();
  const path = modulePath ??
    (lib.backendsLayout === "dynamic" && dir !== null ? `${dir}/${RPC_MODULE}` : null);
  if (path === null) {
    throw new RpcError(
      `rpc_servers: the llama.cpp library in use (${lib.dir}) has no RPC backend: build one ` +
        `with it (\`deno task llama-build --rpc\`), or set rpc_library`,
    );
  }
  try {
    Deno.statSync(path);
  } catch {
    throw new RpcError(
      `${key}: llama.cpp's RPC backend ${path} is missing; build it with ` +
        `\`deno task llama-build --rpc-module\`${modulePath ? "" : " (or set rpc_library)"}`,
    );
  }
  const reg = ggml.symbols.ggml_backend_load(cstr(path));
  if (reg === null) {
    throw new RpcError(
      `${key}: llama.cpp could not load ${path} as a backend (see the llama.cpp log lines above)`,
    );
  }
  return reg;
}

function findIn(dir: string, names: string[]): string {
  for (const n of names) {
    try {
      if (Deno.statSync(`${dir}/${n}`).isFile) return `${dir}/${n}`;
    } catch {
      // next
    }
  }
  throw new RpcError(`${dir} holds no ${names.join(" or ")}`);
}

/** Checks that something listens at host:port before ggml connects (it aborts if not). */
async function probe(endpoint: string): Promise<void> {
  const i = endpoint.lastIndexOf(":");
  const hostname = endpoint.slice(0, i).replace(/^\[|\]$/g, "");
  const port = Number(endpoint.slice(i + 1));
  try {
    const conn = await withTimeout(Deno.connect({ hostname, port }), 5000, endpoint);
    conn.close();
  } catch (e) {
    if (e instanceof RpcError) throw e; // no answer in time
    throw new RpcError(`rpc_servers: cannot reach ${endpoint}: ${(e as Error).message}`);
  }
}

/**
 * Attaches each server's devices to the process (in the order given) and returns them. Each
 * endpoint is reached first with a plain TCP connect: ggml's own connect aborts the process
 * when it fails.
 */
export async function attachRpcServers(
  lib: LlamaLibrary,
  endpoints: string[],
  modulePath?: string,
  /** Set to the endpoint being attached (to name it when ggml aborts on it). */
  at: { endpoint: string | null } = { endpoint: null },
): Promise<RpcDevice[]> {
  const reg = rpcBackend(lib, modulePath);
  const ggml = Deno.dlopen(findIn(lib.dir, ["libggml.v0.4.0.so", "libggml.so"]), RPC_SYMBOLS);
  const base = Deno.dlopen(
    findIn(lib.dir, ["libggml-base.so", "libggml-base.v0.4.0.so"]),
    BASE_SYMBOLS,
  );
  const fn = base.symbols.ggml_backend_reg_get_proc_address(
    reg,
    cstr("ggml_backend_rpc_add_server"),
  );
  if (fn === null) {
    throw new RpcError("rpc_servers: the RPC backend has no ggml_backend_rpc_add_server");
  }
  // deno-lint-ignore no-explicit-any
  const addServer = new Deno.UnsafeFnPointer(fn as Deno.PointerObject<any>, ADD_SERVER);
  const out: RpcDevice[] = [];
  for (const endpoint of endpoints) {
    at.endpoint = endpoint;
    await probe(endpoint);
    const server = await withTimeout(
      addServer.call(cstr(endpoint)),
      15_000,
      `${endpoint} (handshake)`,
    );
    if (server === null) {
      throw new RpcError(`rpc_servers: ${endpoint}: the server offers no device`);
    }
    ggml.symbols.ggml_backend_register(server);
    const n = Number(base.symbols.ggml_backend_reg_dev_count(server));
    for (let i = 0; i < n; i++) {
      const dev = base.symbols.ggml_backend_reg_dev_get(server, BigInt(i));
      const free = new BigUint64Array(1);
      const total = new BigUint64Array(1);
      await withTimeout(
        base.symbols.ggml_backend_dev_memory(
          dev,
          new Uint8Array(free.buffer),
          new Uint8Array(total.buffer),
        ),
        15_000,
        `${endpoint} (memory)`,
      );
      const name = base.symbols.ggml_backend_dev_name(dev);
      out.push({
        endpoint,
        name: name === null ? `RPC${out.length}` : Deno.UnsafePointerView.getCString(name),
        memoryFreeBytes: Number(free[0]),
        memoryTotalBytes: Number(total[0]),
      });
    }
  }
  return out;
}

/**
 * Parks ggml's RPC client instead of aborting the process when a server is lost (see
 * rpc_guard_worker.ts). `onLost` is called once per RPC abort, with ggml's message.
 */
export async function guardRpcAborts(
  lib: LlamaLibrary,
  onLost: (message: string) => void,
): Promise<{ close(): void }> {
  const worker = new Worker(new URL("./rpc_guard_worker.ts", import.meta.url), {
    type: "module",
  });
  await new Promise<void>((resolve, reject) => {
    worker.onerror = (e) => {
      e.preventDefault();
      reject(new RpcError(`rpc_servers: the RPC abort guard failed to start: ${e.message}`));
    };
    worker.onmessage = (e: MessageEvent<GuardReport>) => {
      if (e.data.op === "ready") resolve();
    };
    worker.postMessage({
      basePath: findIn(lib.dir, ["libggml-base.so", "libggml-base.v0.4.0.so"]),
    });
  });
  worker.onmessage = (e: MessageEvent<GuardReport>) => {
    if (e.data.op === "abort" && e.data.rpc) onLost(e.data.message);
  };
  return { close: () => worker.terminate() };
}
