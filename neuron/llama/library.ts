/**
 * Opens the llama.cpp shared libraries in the order they need and checks
 * that the version and struct layouts are the ones this binding was written
 * for. Everything that touches FFI goes through the object returned here.
 */

import { createLogger, type Logger } from "../../core/log.ts";
import { checkLayouts } from "./structs.ts";
import { GGML_BASE_SYMBOLS, GGML_SYMBOLS, LIBC_SYMBOLS, LLAMA_SYMBOLS } from "./symbols.ts";

/** Versions whose header this binding was checked against. */
export const SUPPORTED_VERSIONS = ["0.4.0", "0.4.0-dev"];

export type LlamaSymbols = Deno.DynamicLibrary<typeof LLAMA_SYMBOLS>["symbols"];
export type GgmlSymbols = Deno.DynamicLibrary<typeof GGML_SYMBOLS>["symbols"];

export interface LlamaLibrary {
  dir: string;
  version: string;
  llama: LlamaSymbols;
  ggml: GgmlSymbols;
  /** Address of libc's strlen: the abort callback (see abort_flag.ts). */
  strlen: Deno.PointerValue;
  systemInfo: string;
  close(): void;
}

export class LibraryError extends Error {
  override name = "LibraryError";
}

/** Candidate file names: the npm prebuilt ones first, then a plain cmake build's. */
const NAMES = {
  base: ["libggml-base.so", "libggml-base.v0.4.0.so"],
  ggml: ["libggml.v0.4.0.so", "libggml.so"],
  llama: ["libllama.v0.4.0.so", "libllama.so"],
};

/** Where the npm prebuilt binaries live: the CUDA package when installed, else the CPU one. */
export function defaultLibraryDirs(): string[] {
  const dirs: string[] = [];
  for (
    const [pkg, sub] of [["@node-llama-cpp/linux-x64-cuda", "linux-x64-cuda"], [
      "@node-llama-cpp/linux-x64",
      "linux-x64",
    ]]
  ) {
    try {
      const entry = new URL(import.meta.resolve(pkg));
      dirs.push(new URL(`../bins/${sub}`, entry).pathname);
    } catch {
      // not installed: try the next
    }
  }
  const root = new URL("../../node_modules/", import.meta.url).pathname;
  dirs.push(`${root}@node-llama-cpp/linux-x64/bins/linux-x64`);
  return dirs;
}

function findFile(dir: string, names: string[]): string | undefined {
  for (const n of names) {
    try {
      if (Deno.statSync(`${dir}/${n}`).isFile) return `${dir}/${n}`;
    } catch {
      // try the next name
    }
  }
  return undefined;
}

export function resolveLibraryDir(configured?: string): string {
  const candidates = configured ? [configured] : defaultLibraryDirs();
  for (const dir of candidates) {
    if (findFile(dir, NAMES.llama)) return dir;
  }
  throw new LibraryError(
    configured
      ? `library_path ${configured} holds no ${NAMES.llama.join(" or ")}`
      : `no llama.cpp library found (looked in ${
        candidates.join(", ")
      }); run \`deno install\` or set library_path`,
  );
}

const cstring = (p: Deno.PointerValue): string =>
  p === null ? "" : Deno.UnsafePointerView.getCString(p);

let opened: LlamaLibrary | undefined;

export interface OpenOptions {
  dir?: string;
  log?: Logger;
  /**
   * The first opener in the process (the main thread) registers the ggml
   * backends, initialises llama and routes its log; those are process-wide,
   * so device workers open with `primary: false` and only bind symbols.
   */
  primary?: boolean;
}

/**
 * Opens the libraries once per thread (each Web Worker binds its own
 * symbols over the same process-wide library).
 */
export function openLlamaLibrary(opts: OpenOptions = {}): LlamaLibrary {
  const primary = opts.primary ?? true;
  if (opened) return opened;
  const dir = resolveLibraryDir(opts.dir);
  const log = opts.log ?? createLogger("llama.cpp");
  const need = (names: string[]) => {
    const f = findFile(dir, names);
    if (!f) throw new LibraryError(`${dir} holds no ${names.join(" or ")}`);
    return f;
  };
  const base = Deno.dlopen(need(NAMES.base), GGML_BASE_SYMBOLS);
  const logCallback = primary ? installLogRouting(log, base.symbols) : null;
  const ggml = Deno.dlopen(need(NAMES.ggml), GGML_SYMBOLS);
  // Backends are separate .so files in the npm build; without this no CPU backend registers.
  if (primary && ggml.symbols.ggml_backend_reg_count() === 0n) {
    ggml.symbols.ggml_backend_load_all_from_path(new TextEncoder().encode(dir + "\0"));
  }
  let llama: Deno.DynamicLibrary<typeof LLAMA_SYMBOLS>;
  try {
    llama = Deno.dlopen(need(NAMES.llama), LLAMA_SYMBOLS);
  } catch (e) {
    throw new LibraryError(
      `${dir}: this llama.cpp library lacks symbols the binding needs (${
        (e as Error).message
      }); supported versions: ${SUPPORTED_VERSIONS.join(", ")}`,
    );
  }
  const versionFn = llama.symbols.llama_version;
  const version = versionFn ? cstring(versionFn()) : "unknown (no llama_version symbol)";
  if (!SUPPORTED_VERSIONS.includes(version)) {
    llama.close();
    logCallback?.close();
    throw new LibraryError(
      `${dir}: found llama.cpp ${version}; this binding supports ${SUPPORTED_VERSIONS.join(", ")}`,
    );
  }
  const problems = checkLayouts(
    llama.symbols.llama_model_default_params(),
    llama.symbols.llama_context_default_params(),
  );
  if (problems.length) {
    llama.close();
    logCallback?.close();
    throw new LibraryError(
      `${dir}: llama.cpp ${version} has unexpected struct layouts: ${problems.join("; ")}`,
    );
  }

  if (logCallback) {
    llama.symbols.llama_log_set(logCallback.pointer, null);
    llama.symbols.llama_backend_init();
  }

  const libc = Deno.dlopen("libc.so.6", LIBC_SYMBOLS);
  const strlen = libc.symbols.dlsym(null, new TextEncoder().encode("strlen\0"));

  opened = {
    dir,
    version,
    llama: llama.symbols,
    ggml: ggml.symbols,
    strlen,
    systemInfo: cstring(llama.symbols.llama_print_system_info()).trim(),
    close() {
      logCallback?.close();
      llama.close();
      ggml.close();
      base.close();
      libc.close();
      opened = undefined;
    },
  };
  return opened;
}

const LEVELS = ["debug", "debug", "debug", "warn", "error"] as const;
const LOG_CALLBACK = { parameters: ["i32", "pointer", "pointer"], result: "void" } as const;
type LogCallback = Deno.UnsafeCallback<typeof LOG_CALLBACK>;

function installLogRouting(
  log: Logger,
  base: Deno.DynamicLibrary<typeof GGML_BASE_SYMBOLS>["symbols"],
): LogCallback {
  let line = "";
  let level: (typeof LEVELS)[number] = "debug";
  // Thread-safe: llama.cpp logs from its loader and compute threads too.
  const cb = Deno.UnsafeCallback.threadSafe(
    LOG_CALLBACK,
    (lvl, text) => {
      if (lvl !== 5) level = LEVELS[lvl] ?? "debug"; // 5 = continuation of the last line
      line += cstring(text);
      let nl: number;
      while ((nl = line.indexOf("\n")) >= 0) {
        const msg = line.slice(0, nl).trimEnd();
        line = line.slice(nl + 1);
        if (msg) log[level](msg);
      }
    },
  );
  cb.unref(); // never keep a process alive just for logging
  base.ggml_log_set(cb.pointer, null);
  return cb;
}
