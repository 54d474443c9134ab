/**
 * `manifest.json` of a local llama.cpp build (`cortex llama-build`): written by the build
 * command once the libraries loaded, read by the neuron to prefer that build over the npm
 * prebuilt. A folder without a valid manifest is never preferred.
 */

import { z } from "zod";

export const MANIFEST_FILE = "manifest.json";

export const LibraryManifestSchema = z.object({
  schema: z.literal(1),
  /** llama.cpp release (the `LLAMA_VERSION` the libraries report). */
  llama_cpp: z.string(),
  /** Cache key: "cpu-native", "cuda12-sm89", "cuda13-sm90a-rpc", … */
  variant: z.string(),
  backend: z.enum(["cpu", "cuda"]),
  cuda: z.object({ version: z.string(), arch: z.string() }).nullable(),
  rpc: z.boolean(),
  source: z.object({
    /** "npm:node-llama-cpp@3.21.1", or the archive / folder given with --source. */
    from: z.string(),
    /** The git commit of the release bundle, when the source came from the npm package. */
    commit: z.string().nullable(),
  }),
  cmake_flags: z.array(z.string()),
  /**
   * The host CPU's instruction-set flags at build time: a GGML_NATIVE build uses them all,
   * so a host lacking any of them must not load it (SIGILL).
   */
  cpu_flags: z.array(z.string()),
  built_at: z.string(),
  /** Regular files of the folder and their sizes: a changed file voids the verification. */
  files: z.record(z.string(), z.number().int().nonnegative()),
  /** Executables built beside the libraries (`llama-server`, `ggml-rpc-server`). */
  programs: z.array(z.string()),
  verified: z.object({
    at: z.string(),
    version: z.string(),
    /** "linked": backends inside libggml.so; "dynamic": loaded from libggml-*.so files. */
    backends_layout: z.enum(["linked", "dynamic"]),
    devices: z.array(z.string()),
    system_info: z.string(),
  }),
});
export type LibraryManifest = z.infer<typeof LibraryManifestSchema>;
