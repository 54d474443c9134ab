/**
 * models.toml: model profiles the gateway may load on demand (where the
 * weights come from, where they may run, how long they stay, default sampling).
 *
 * Environment overrides share the gateway's prefix `CORTEX_` under the
 * top-level key `models`, addressed by index: `CORTEX_MODELS__0__VRAM_MB=9000`
 * sets `models[0].vram_mb`. cortex.toml has no `models` table, so the two
 * files never claim the same variable.
 */
import { z } from "zod";
import {
  DRAFT_MAX_LIMIT,
  KvCacheTypeSchema,
  SpeculativeModeSchema,
  SplitModeSchema,
} from "../neuron/schemas.ts";
import { ConfigError, makeIssue } from "./config_error.ts";
import type { Env, EnvSpec } from "./env_overrides.ts";
import { integer, neuronName, number } from "./fields.ts";
import { formatKeyPath } from "./key_path.ts";
import { MODEL_SOURCE_EXPECTED, parseModelSource } from "./model_source.ts";
import type { CortexConfig } from "./cortex_config.ts";
import { indexKeyLines, lineOf } from "./toml_lines.ts";
import {
  type ConfigFileSpec,
  type CrossIssue,
  parseTomlText,
  readConfigText,
  validateDocument,
} from "./validate.ts";

const MODEL_NAME_EXPECTED = "a non-empty name without spaces or control characters";

/** Model ids and aliases are what clients put in `model`; keep them free of spaces. */
function modelName() {
  return z.string({ error: MODEL_NAME_EXPECTED }).regex(/^[^\s\p{Cc}]+$/u, {
    error: MODEL_NAME_EXPECTED,
  });
}

function modelSource() {
  return z.any().transform((v, ctx): string => {
    if (typeof v !== "string") {
      ctx.addIssue({ code: "custom", message: MODEL_SOURCE_EXPECTED });
      return z.NEVER;
    }
    try {
      parseModelSource(v);
    } catch (e) {
      ctx.addIssue({
        code: "custom",
        message: MODEL_SOURCE_EXPECTED,
        params: { found: `${JSON.stringify(v)} (${(e as Error).message})` },
      });
      return z.NEVER;
    }
    return v;
  });
}

/** Default sampling for requests that do not set these fields. */
export const SamplingSchema = z.strictObject({
  temperature: number({ min: 0, max: 5 }).optional(),
  top_p: number({ min: 0, max: 1 }).optional(),
  /** 0 disables top-k. */
  top_k: integer({ min: 0 }).optional(),
  min_p: number({ min: 0, max: 1 }).optional(),
  /** 1.0 = no penalty. */
  repeat_penalty: number({ min: 0, max: 10 }).optional(),
  presence_penalty: number({ min: -2, max: 2 }).optional(),
  frequency_penalty: number({ min: -2, max: 2 }).optional(),
  /** llama.cpp seeds are 32-bit. */
  seed: integer({ min: 0, max: 4_294_967_295 }).optional(),
});

const SHARE = "a share above 0, at most 1000000 (leave a device out of devices instead)";

export const ModelProfileSchema = z.strictObject({
  /** The name clients request; unique across ids and aliases. */
  id: modelName(),
  /** Store-relative .gguf path, `hf:org/repo/file.gguf` or `hf:org/repo:QUANT` (see model_source.ts). */
  source: modelSource(),
  /** Other names for this model; unique across ids and aliases. */
  aliases: z.array(modelName(), { error: "an array of alias strings" }).default([]),
  /** Neurons this model may run on; empty = any. */
  pinned_on: z.array(neuronName(), { error: "an array of neuron names" }).default([]),
  /** Higher stays loaded longer when VRAM is needed. */
  residency_priority: integer().default(0),
  /**
   * Once loaded, never unloaded by the gateway: not to make room, not when idle
   * (an explicit `cortex unload` still can).
   */
  pinned: z.boolean({ error: "true or false" }).default(false),
  /** VRAM estimate in MiB, used for placement before the model has been loaded once. */
  vram_mb: integer({ min: 1 }).optional(),
  /** Context tokens per request (per slot); absent = the neuron's `context`. */
  context_length: integer({ min: 1 }).optional(),
  /** Parallel slots; absent = the neuron's `slots`. */
  parallel: integer({ min: 1 }).optional(),
  /** KV cache type; absent = the neuron's `kv_cache_type`. */
  kv_cache_type: KvCacheTypeSchema.optional(),
  /**
   * Split across a neuron's devices (llama.cpp's split modes); absent = one device, or a layer
   * split when no single device holds it.
   */
  split: SplitModeSchema.optional(),
  /** The devices of a split, in order (a neuron without all of them does not take it). */
  devices: z.array(z.string().min(1).max(200), { error: "an array of device names" }).min(2, {
    error: "at least two device names",
  }).max(16).optional(),
  /** Relative shares of `devices`, one per device (absent: by each device's free room). */
  tensor_split: z.array(
    z.number({ error: SHARE }).gt(0, { error: SHARE }).max(1e6, { error: SHARE }),
    { error: "an array of numbers" },
  ).optional(),
  /** Cap on generated tokens per request. */
  max_output_tokens: integer({ min: 1 }).optional(),
  /** Load as an embedding model (serves /v1/embeddings). */
  embeddings: z.boolean({ error: "true or false" }).default(false),
  /** Store id of a draft model with this model's vocabulary, loaded beside it. */
  draft: z.string({ error: "a store id" }).min(1).max(500).optional(),
  /**
   * How requests that do not say speculate: "ngram" (prompt lookup), "draft" (needs
   * `draft`) or "off"; default "draft" when `draft` is set, else "off".
   */
  speculative: SpeculativeModeSchema.optional(),
  /** Most tokens drafted per sequence per step. */
  draft_max: integer({ min: 1, max: DRAFT_MAX_LIMIT }).optional(),
  /** A draft model's top token below this probability ends its draft. */
  draft_min_p: number({ min: 0, max: 1 }).optional(),
  sampling: SamplingSchema.prefault({}),
});

export const ModelsConfigSchema = z.strictObject({
  models: z.array(ModelProfileSchema, { error: "an array of tables ([[models]])" }).default([]),
});

export type ModelsConfig = z.output<typeof ModelsConfigSchema>;
export type ModelProfile = ModelsConfig["models"][number];
export type SamplingDefaults = ModelProfile["sampling"];

export const MODELS_ENV: EnvSpec = {
  prefix: "CORTEX_",
  rootKeys: Object.keys(ModelsConfigSchema.shape),
  onlyRoots: ["models"],
};

function isTable(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === "object" && !Array.isArray(v);
}

/** Ids must be unique, and every alias must name nothing else (no id, no other alias). */
function crossCheck(doc: Record<string, unknown>): CrossIssue[] {
  const issues: CrossIssue[] = [];
  const models = Array.isArray(doc.models) ? doc.models : [];
  const ids = new Map<string, number>();
  models.forEach((m, i) => {
    if (!isTable(m) || typeof m.id !== "string") return;
    const first = ids.get(m.id);
    if (first === undefined) ids.set(m.id, i);
    else {
      issues.push({
        path: ["models", i, "id"],
        expected: "an id not used by another model",
        found: `"${m.id}", already the id of models[${first}]`,
      });
    }
  });
  models.forEach((m, i) => {
    if (isTable(m) && m.speculative === "draft" && m.draft === undefined) {
      issues.push({
        path: ["models", i, "speculative"],
        expected: '"ngram" or "off", or a `draft` model to draft with',
        found: '"draft" without `draft`',
      });
    }
    // Every load of it would be refused (the split planner does not place a draft's memory).
    const splitKey = isTable(m) && m.draft !== undefined
      ? (["split", "devices"] as const).find((k) => m[k] !== undefined)
      : undefined;
    if (splitKey) {
      issues.push({
        path: ["models", i, "draft"],
        expected: "no draft model on a split model (not supported yet; use speculative = " +
          '"ngram")',
        found: `draft with \`${splitKey}\``,
      });
    }
  });
  models.forEach((m, i) => {
    if (!isTable(m)) return;
    const devices = m.devices;
    if (Array.isArray(devices)) {
      const twice = devices.find((d, j) => devices.indexOf(d) !== j);
      if (twice !== undefined) {
        issues.push({
          path: ["models", i, "devices"],
          expected: "each device named once",
          found: `${JSON.stringify(twice)} twice`,
        });
      }
    }
    if (m.draft !== undefined && (m.split !== undefined || m.devices !== undefined)) {
      // The neuron refuses it (its split planner does not place a draft's memory yet).
      issues.push({
        path: ["models", i, m.split !== undefined ? "split" : "devices"],
        expected: "no split beside a draft model (not supported yet)",
      });
    }
  });
  models.forEach((m, i) => {
    if (!isTable(m) || m.tensor_split === undefined) return;
    const devices = Array.isArray(m.devices) ? m.devices : null;
    if (devices === null) {
      issues.push({
        path: ["models", i, "tensor_split"],
        expected: "devices beside it (one share per device, in the same order)",
      });
    } else if (Array.isArray(m.tensor_split) && m.tensor_split.length !== devices.length) {
      issues.push({
        path: ["models", i, "tensor_split"],
        expected: `${devices.length} shares, one per entry of devices`,
      });
    }
  });
  const aliases = new Map<string, string>();
  models.forEach((m, i) => {
    if (!isTable(m) || !Array.isArray(m.aliases)) return;
    m.aliases.forEach((alias, j) => {
      if (typeof alias !== "string") return;
      const path = ["models", i, "aliases", j];
      const idOwner = ids.get(alias);
      const aliasOwner = aliases.get(alias);
      if (idOwner !== undefined) {
        issues.push({
          path,
          expected: "an alias not used as a model id",
          found: `"${alias}", ${
            idOwner === i ? "this model's own id" : `the id of models[${idOwner}]`
          }`,
        });
      } else if (aliasOwner !== undefined) {
        issues.push({
          path,
          expected: "an alias not used by another model",
          found: `"${alias}", already an alias at ${aliasOwner}`,
        });
      } else aliases.set(alias, formatKeyPath(path));
    });
  });
  return issues;
}

export const MODELS_FILE: ConfigFileSpec<typeof ModelsConfigSchema> = {
  schema: ModelsConfigSchema,
  env: MODELS_ENV,
  crossCheck,
};

/** The source of a parsed models.toml, for line numbers in cross-file errors. */
export interface ModelsSource {
  file?: string;
  text?: string;
}

/**
 * Reports every `pinned_on` entry naming a neuron that cortex.toml does not
 * define, as one ConfigError naming models.toml and the key path (and the line
 * when `source.text` is given). With no [[neurons]] configured the gateway runs
 * one embedded neuron that serves every model, so pins are not checked.
 */
export function checkModelsAgainstNeurons(
  models: ModelsConfig,
  cortex: CortexConfig,
  source: ModelsSource = {},
): void {
  if (cortex.neurons.length === 0) return;
  const file = source.file ?? "models.toml";
  const known = cortex.neurons.map((n) => n.name);
  const index = source.text === undefined ? undefined : indexKeyLines(source.text);
  const issues = [];
  for (const [i, m] of models.models.entries()) {
    for (const [j, name] of m.pinned_on.entries()) {
      if (known.includes(name)) continue;
      const path = ["models", i, "pinned_on", j];
      issues.push(makeIssue({
        file,
        line: index === undefined ? undefined : lineOf(index, path),
        keyPath: formatKeyPath(path),
        expected: `a neuron named in cortex.toml (${known.join(", ")})`,
        found: `"${name}"`,
      }));
    }
  }
  if (issues.length > 0) throw new ConfigError(issues);
}

/** Options of `parseModelsConfig` / `loadModelsConfig`. */
export interface ModelsOptions {
  /** When given, `pinned_on` is checked against its neurons (see checkModelsAgainstNeurons). */
  cortex?: CortexConfig;
}

/** Parses models.toml text (pure: no file access); throws ConfigError. */
export function parseModelsConfig(
  text: string,
  fileLabel = "models.toml",
  env: Env = {},
  options: ModelsOptions = {},
): ModelsConfig {
  const doc = parseTomlText(text, fileLabel);
  const { config } = validateDocument(MODELS_FILE, doc, { file: fileLabel, text, env });
  if (options.cortex !== undefined) {
    checkModelsAgainstNeurons(config, options.cortex, { file: fileLabel, text });
  }
  return config;
}

export const MODELS_DEFAULTS_LABEL = "models.toml (defaults)";

/**
 * Loads models.toml from `path` (typically `cortex.gateway.models`), or an
 * empty catalogue when `path` is undefined; `env` overrides either.
 */
export async function loadModelsConfig(
  path: string | undefined,
  env: Env = {},
  options: ModelsOptions = {},
): Promise<ModelsConfig> {
  if (path === undefined) return parseModelsConfig("", MODELS_DEFAULTS_LABEL, env, options);
  return parseModelsConfig(await readConfigText(path), path, env, options);
}
