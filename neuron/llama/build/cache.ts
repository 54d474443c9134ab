/**
 * Where local llama.cpp builds live, keyed by release and variant:
 *
 *   <cache>/llama/v0.4.0/node-llama-cpp-3.21.1.tgz   the npm package holding the source
 *   <cache>/llama/v0.4.0/src/                        the source, cloned from its git bundle
 *   <cache>/llama/v0.4.0/build/<variant>/            the cmake tree (kept: rebuilds are incremental)
 *   <cache>/llama/v0.4.0/<variant>/                  installed: lib*.so, programs, manifest.json
 *
 * <cache> is $CORTEX_CACHE_DIR, else $XDG_CACHE_HOME/cortex, else ~/.cache/cortex.
 */

/** The llama.cpp release the binding was written for, and the npm package shipping its source. */
export const RELEASE = {
  version: "0.4.0",
  tag: "v0.4.0",
  npmPackage: "node-llama-cpp",
  npmVersion: "3.21.1",
  /** The registry's dist.integrity for that tarball: a tarball given offline must match it. */
  integrity:
    "sha512-E3N0Ev2Va0wzydvXYFwM9Hvyo07PoWjt8T/9GMc43Cvt8YkV/NU/tYUgEMC1grTPv2o9PRjQi0G3Wb5P/awiMg==",
} as const;

const TARBALL_NAME = `${RELEASE.npmPackage}-${RELEASE.npmVersion}.tgz`;

/** The cache root for this user, from the environment (see the module comment). */
export function cacheRoot(env: Record<string, string | undefined>): string {
  if (env.CORTEX_CACHE_DIR) return env.CORTEX_CACHE_DIR;
  if (env.XDG_CACHE_HOME) return `${env.XDG_CACHE_HOME}/cortex`;
  if (env.HOME) return `${env.HOME}/.cache/cortex`;
  throw new Error("no cache folder: set CORTEX_CACHE_DIR (HOME is not set)");
}

/** The cache root of the running process; undefined when the environment cannot be read. */
export function processCacheRoot(): string | undefined {
  try {
    return cacheRoot(Deno.env.toObject());
  } catch {
    return undefined; // no --allow-env, or no HOME: no local builds to look at
  }
}

export interface ReleasePaths {
  /** <cache>/llama/v<version> */
  dir: string;
  tarball: string;
  src: string;
  build(variant: string): string;
  install(variant: string): string;
}

export function releasePaths(root: string): ReleasePaths {
  const dir = `${root}/llama/v${RELEASE.version}`;
  return {
    dir,
    tarball: `${dir}/${TARBALL_NAME}`,
    src: `${dir}/src`,
    build: (variant) => `${dir}/build/${variant}`,
    install: (variant) => `${dir}/${variant}`,
  };
}

/** What a build is for; its name is the cache key. */
export interface VariantSpec {
  cuda: { major: number; arch: string } | null;
  rpc: boolean;
}

/** "cpu-native", "cuda12-sm89", "cuda13-sm90a-rpc", … */
export function variantName(v: VariantSpec): string {
  const base = v.cuda ? `cuda${v.cuda.major}-sm${v.cuda.arch}` : "cpu-native";
  return v.rpc ? `${base}-rpc` : base;
}

/**
 * The RPC backend module for the npm prebuilt and rpc-server (`llama-build --rpc-module`,
 * rpc_module.ts): beside the variants, but not a library set a neuron runs on its own.
 */
export const RPC_MODULE_VARIANT = "prebuilt-rpc";

/** Folder names under the release folder that are not variants. */
export const NOT_VARIANTS = new Set(["src", "build", RPC_MODULE_VARIANT]);
