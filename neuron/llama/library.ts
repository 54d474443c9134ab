/**
 * Opens the llama.cpp shared libraries in the order they need and checks
 * that the version and struct layouts are the ones this binding was written
 * for. Everything that touches FFI goes through the object returned here.
 */

import { createLogger, type Logger } from "../../core/log.ts";
import { checkLayouts } from "./structs.ts";
import { GGML_BASE_SYMBOLS, GGML_SYMBOLS, LIBC_SYMBOLS, LLAMA_SYMBOLS } from "./symbols.ts";
import { processCacheRoot, releasePaths } from "./build/cache.ts";
import { hostCpuFlags } from "./cpu_flags.ts";
import { checkBuild, findLocalBuilds, type SkippedBuild } from "./local_builds.ts";

/** Versions whose header this binding was checked against. */
export const SUPPORTED_VERSIONS = ["0.4.0", "0.4.0-dev"];

export type LlamaSymbols = Deno.DynamicLibrary<typeof LLAMA_SYMBOLS>["symbols"];
export type GgmlSymbols = Deno.DynamicLibrary<typeof GGML_SYMBOLS>["symbols"];

export interface LlamaLibrary {
  dir: string;
  origin: LibraryOrigin;
  version: string;
  /** "linked": libggml.so registered its backends itself; "dynamic": loaded from libggml-*.so. */
  backendsLayout: "linked" | "dynamic";
  /** Registered ggml backends ("CPU", "CUDA", "RPC", …). */
  backends: string[];
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

/** Candidate file names: the npm prebuilt's and a plain cmake build's. */
export const NAMES = {
  base: ["libggml-base.so", "libggml-base.v0.4.0.so"],
  ggml: ["libggml.v0.4.0.so", "libggml.so"],
  llama: ["libllama.v0.4.0.so", "libllama.so"],
};

/** Where the library came from, as logs and `/discovery` report it. */
export interface LibraryOrigin {
  /** library_path from the config, a verified local build, or the npm prebuilt package. */
  kind: "library_path" | "local-build" | "npm-prebuilt";
  /** The local build's variant ("cpu-native", "cuda13-sm90a", …), when known. */
  variant?: string;
  /** The npm package, for the prebuilt. */
  package?: string;
}

export interface ResolvedLibrary {
  dir: string;
  origin: LibraryOrigin;
  /** Local builds found and not used, with the reason (logged at start). */
  skipped: SkippedBuild[];
}

const NPM_PACKAGES = [
  ["@node-llama-cpp/linux-x64-cuda", "linux-x64-cuda"],
  ["@node-llama-cpp/linux-x64", "linux-x64"],
] as const;

/** Where the npm prebuilt binaries live: the CUDA package when installed, else the CPU one. */
export function prebuiltLibraryDirs(): { dir: string; package: string }[] {
  const dirs: { dir: string; package: string }[] = [];
  for (const [pkg, sub] of NPM_PACKAGES) {
    try {
      const entry = new URL(import.meta.resolve(pkg));
      dirs.push({ dir: new URL(`../bins/${sub}`, entry).pathname, package: pkg });
    } catch {
      // not installed: try the next
    }
  }
  const root = new URL("../../node_modules/", import.meta.url).pathname;
  dirs.push({
    dir: `${root}@node-llama-cpp/linux-x64/bins/linux-x64`,
    package: NPM_PACKAGES[1][0],
  });
  return dirs;
}

/** The library file in `dir` under any of `names`. */
export function findFile(dir: string, names: string[]): string | undefined {
  for (const n of names) {
    try {
      if (Deno.statSync(`${dir}/${n}`).isFile) return `${dir}/${n}`;
    } catch {
      // try the next name
    }
  }
  return undefined;
}

export interface ResolveOptions {
  /** library_path from the config: used as given, nothing else is looked at. */
  configured?: string;
  /** The cache root holding local builds (default: this process's, see build/cache.ts). */
  cacheRoot?: string;
  /** This host's CPU extensions (default: read from /proc/cpuinfo). */
  hostFlags?: string[] | null;
}

/**
 * Which llama.cpp to load: `library_path` when configured; else the preferred verified local
 * build of the supported release; else the npm prebuilt.
 */
export function resolveLibrary(opts: ResolveOptions = {}): ResolvedLibrary {
  if (opts.configured) {
    const dir = opts.configured;
    if (!findFile(dir, NAMES.llama)) {
      throw new LibraryError(`library_path ${dir} holds no ${NAMES.llama.join(" or ")}`);
    }
    const local = checkBuild(dir, SUPPORTED_VERSIONS, opts.hostFlags ?? hostCpuFlags());
    const variant = "manifest" in local ? local.manifest.variant : undefined;
    return { dir, origin: { kind: "library_path", variant }, skipped: [] };
  }
  const root = opts.cacheRoot ?? processCacheRoot();
  let skipped: SkippedBuild[] = [];
  if (root !== undefined) {
    const found = findLocalBuilds(
      releasePaths(root).dir,
      SUPPORTED_VERSIONS,
      opts.hostFlags ?? hostCpuFlags(),
    );
    skipped = found.skipped;
    const best = found.usable.find((b) => findFile(b.dir, NAMES.llama));
    if (best) {
      return {
        dir: best.dir,
        origin: { kind: "local-build", variant: best.manifest.variant },
        skipped,
      };
    }
  }
  const prebuilt = prebuiltLibraryDirs();
  for (const p of prebuilt) {
    if (findFile(p.dir, NAMES.llama)) {
      return { dir: p.dir, origin: { kind: "npm-prebuilt", package: p.package }, skipped };
    }
  }
  throw new LibraryError(
    `no llama.cpp library found (looked in ${
      prebuilt.map((p) => p.dir).join(", ")
    }); run \`deno install\`, build one with \`deno task llama-build\`, or set library_path`,
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
  const resolved = resolveLibrary({ configured: opts.dir });
  const { dir, origin } = resolved;
  const log = opts.log ?? createLogger("llama.cpp");
  const need = (names: string[]) => {
    const f = findFile(dir, names);
    if (!f) throw new LibraryError(`${dir} holds no ${names.join(" or ")}`);
    return f;
  };
  const base = Deno.dlopen(need(NAMES.base), GGML_BASE_SYMBOLS);
  const logCallback = primary ? installLogRouting(log, base.symbols) : null;
  const ggml = Deno.dlopen(need(NAMES.ggml), GGML_SYMBOLS);
  // Two layouts: a cmake build without GGML_BACKEND_DL links its backends into libggml.so,
  // which registers them as it loads; the npm build ships them as separate libggml-*.so files
  // that only ggml_backend_load_all_from_path registers.
  let backendsLayout: LlamaLibrary["backendsLayout"] = "linked";
  if (primary && ggml.symbols.ggml_backend_reg_count() === 0n) {
    backendsLayout = "dynamic";
    ggml.symbols.ggml_backend_load_all_from_path(new TextEncoder().encode(dir + "\0"));
  }
  const backends = backendNames(ggml.symbols);
  if (primary && !backends.length) {
    logCallback?.close();
    ggml.close();
    base.close();
    throw new LibraryError(
      `${dir}: no ggml backend registered (libggml.so links none, and no libggml-cpu*.so ` +
        `or other backend library loaded from the folder)`,
    );
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

  if (primary) {
    for (const sk of resolved.skipped) {
      log.warn("local llama.cpp build not used", { dir: sk.dir, reason: sk.reason });
    }
    log.info("llama.cpp library", {
      dir,
      origin: origin.kind,
      variant: origin.variant ?? origin.package,
      version,
      backends: backends.join(","),
    });
  }

  opened = {
    dir,
    origin,
    version,
    backendsLayout,
    backends,
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

function backendNames(ggml: GgmlSymbols): string[] {
  const names: string[] = [];
  const n = Number(ggml.ggml_backend_reg_count());
  for (let i = 0; i < n; i++) {
    names.push(cstring(ggml.ggml_backend_reg_name(ggml.ggml_backend_reg_get(BigInt(i)))));
  }
  return names;
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
