/**
 * neuron.toml: the per-host daemon's configuration (listen address, model
 * directories, devices and their memory budgets, llama.cpp context sizes).
 *
 * Environment overrides use the prefix `NEURON_`, e.g. `NEURON_LISTEN=:13131`,
 * `NEURON_N_THREADS=1`, `NEURON_MEMORY_BUDGET_MB__CUDA0=20000` (device names
 * keep the spelling given). Single-segment `NEURON_*` variables that name no
 * key are ignored unless they look like a typo of one, because other software
 * (AWS Neuron's `NEURON_RT_*`) shares the prefix.
 */
import { z } from "zod";
import { KvCacheTypeSchema } from "../neuron/schemas.ts";
import type { Env, EnvSpec } from "./env_overrides.ts";
import { hostPort, integer, nonEmptyString, pathString, rpcEndpoint } from "./fields.ts";
import { baseDirOf, type ParseOptions, resolveFromFile } from "./resolve_paths.ts";
import {
  type ConfigFileSpec,
  type CrossIssue,
  parseTomlText,
  readConfigText,
  validateDocument,
} from "./validate.ts";

const MiB = 1024 * 1024;

export const NeuronConfigSchema = z.strictObject({
  /** HTTP API listen address. */
  listen: hostPort().default("127.0.0.1:13131"),
  /** Directories holding .gguf files, resolved against neuron.toml's directory; pulls land in the first. */
  model_dirs: z.array(pathString(), { error: "an array of directory paths" })
    .min(1, { error: "at least one directory" })
    .default(["./models"]),
  /** Device names to use (e.g. "CUDA0", "CPU"); absent = every GPU found, else the CPU. */
  devices: z.array(nonEmptyString("a device name"), { error: "an array of device names" })
    .min(1, { error: "at least one device name (leave devices out to use all)" })
    .optional(),
  /** Per-device memory budget in MiB, overriding what the device reports. */
  memory_budget_mb: z.record(z.string(), integer({ min: 1 }), {
    error: "a table of device name = MiB, e.g. { CPU = 2048 }",
  }).default({}),
  /**
   * Parallel sequences per loaded model; absent = 4, fewer when the device could not
   * otherwise give each request 32768 tokens (see neuron/store/fit.ts).
   */
  slots: integer({ min: 1 }).optional(),
  /**
   * Context tokens per slot; absent = the model's trained length, reduced only as far as
   * the device's memory requires.
   */
  context: integer({ min: 1 }).optional(),
  /** KV cache element type: "q8_0" / "q4_0" fit 2× / 3.5× the context of "f16". */
  kv_cache_type: KvCacheTypeSchema.default("f16"),
  /** Generation threads; absent = chosen from the CPU count. */
  n_threads: integer({ min: 1 }).optional(),
  /** Prompt-processing threads; absent = same as n_threads. */
  n_threads_batch: integer({ min: 1 }).optional(),
  /** Largest batch of tokens per llama_decode. */
  n_batch: integer({ min: 1 }).default(512),
  /** Requests waiting for a slot before new ones are refused (503 with Retry-After). */
  max_queue: integer({ min: 0 }).default(64),
  /** Shared secret the gateway must send as a bearer token; absent = open. */
  token: nonEmptyString("a non-empty token").optional(),
  /** Directory with libllama*.so; absent = the prebuilt from @node-llama-cpp/linux-x64. */
  library_path: pathString().optional(),
  /**
   * RPC servers ("host:port", llama.cpp's rpc-server) whose devices splits may use after this
   * host's own; opt-in. No authentication and every token's activations cross the network:
   * private networks only (README, "Models larger than one device").
   */
  rpc_servers: z.array(rpcEndpoint(), { error: 'an array of "host:port" strings' }).max(16, {
    error: "at most 16 RPC servers (llama.cpp's limit)",
  }).default([]),
  /** libggml-rpc.so for a library without RPC of its own; absent = `deno task rpc-build`'s. */
  rpc_library: pathString().optional(),
  /** Largest accepted request body, in bytes. */
  max_body_bytes: integer({ min: 1 }).default(8 * MiB),
  /** Log threshold; absent = CORTEX_LOG or "info". */
  log_level: z.enum(["debug", "info", "warn", "error"]).optional(),
});

/** The parsed neuron.toml; relative paths resolved against the file's directory. */
export type NeuronConfig = z.output<typeof NeuronConfigSchema>;

export const NEURON_ENV: EnvSpec = {
  prefix: "NEURON_",
  rootKeys: Object.keys(NeuronConfigSchema.shape),
  verbatimKeysUnder: ["memory_budget_mb"],
};

/**
 * Device names, model dirs and RPC servers must not repeat (a repeat is always a slip); an
 * rpc_library without rpc_servers would be ignored.
 */
function crossCheck(doc: Record<string, unknown>): CrossIssue[] {
  const issues: CrossIssue[] = [];
  const servers = doc.rpc_servers;
  if (doc.rpc_library !== undefined && (!Array.isArray(servers) || servers.length === 0)) {
    issues.push({
      path: ["rpc_library"],
      expected: "rpc_servers beside it (the RPC backend is loaded only for them)",
    });
  }
  for (const key of ["devices", "model_dirs", "rpc_servers"] as const) {
    const list = doc[key];
    if (!Array.isArray(list)) continue;
    const seen = new Map<unknown, number>();
    list.forEach((v, i) => {
      if (typeof v !== "string") return;
      const first = seen.get(v);
      if (first === undefined) seen.set(v, i);
      else {
        issues.push({
          path: [key, i],
          expected: `an entry not already listed`,
          found: `"${v}", the same as ${key}[${first}]`,
        });
      }
    });
  }
  return issues;
}

export const NEURON_FILE: ConfigFileSpec<typeof NeuronConfigSchema> = {
  schema: NeuronConfigSchema,
  env: NEURON_ENV,
  crossCheck,
  isSecret: (path) => path[path.length - 1] === "token",
};

/** Parses neuron.toml text (pure: no file access); throws ConfigError. */
export function parseNeuronConfig(
  text: string,
  fileLabel = "neuron.toml",
  env: Env = {},
  options: ParseOptions = {},
): NeuronConfig {
  const doc = parseTomlText(text, fileLabel);
  const { config, overrides } = validateDocument(NEURON_FILE, doc, { file: fileLabel, text, env });
  const baseDir = baseDirOf(fileLabel, options);
  const envPaths = overrides.map((o) => o.path);
  return {
    ...config,
    model_dirs: config.model_dirs.map((d, i) =>
      resolveFromFile(d, ["model_dirs", i], baseDir, envPaths)
    ),
    ...(config.library_path === undefined ? {} : {
      library_path: resolveFromFile(config.library_path, ["library_path"], baseDir, envPaths),
    }),
    ...(config.rpc_library === undefined ? {} : {
      rpc_library: resolveFromFile(config.rpc_library, ["rpc_library"], baseDir, envPaths),
    }),
  };
}

export const NEURON_DEFAULTS_LABEL = "neuron.toml (defaults)";

/** Loads neuron.toml from `path`, or the defaults when `path` is undefined; `env` overrides either. */
export async function loadNeuronConfig(
  path: string | undefined,
  env: Env = {},
): Promise<NeuronConfig> {
  if (path === undefined) {
    return parseNeuronConfig("", NEURON_DEFAULTS_LABEL, env, { baseDir: null });
  }
  return parseNeuronConfig(await readConfigText(path), path, env);
}
