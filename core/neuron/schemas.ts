/**
 * What crosses the wire between a neuron and the gateway: lifecycle request
 * bodies and the neuron's view of its devices and models. The neuron builds
 * its answers with these types; the gateway validates them with the same
 * schemas.
 */

import { z } from "zod";
import { BoundedRecordSchema } from "../openai/common.ts";
import { DRAFT_MAX_LIMIT, SpeculativeModeSchema } from "./speculative.ts";

export { DRAFT_MAX_LIMIT, type SpeculativeMode, SpeculativeModeSchema } from "./speculative.ts";

export const ModelKeySchema = z.string().min(1).max(200).regex(
  /^[A-Za-z0-9._:+\/-]+$/,
  "letters, digits and . _ : + / - only",
);

/**
 * KV cache element types a neuron offers (llama.cpp `type_k` / `type_v`). Quantized ones
 * halve (q8_0) or quarter (q4_0) the cache's memory, so more context fits; a quantized V
 * cache needs flash attention.
 */
export const KvCacheTypeSchema = z.enum(["f16", "q8_0", "q4_0"]);
export type KvCacheType = z.infer<typeof KvCacheTypeSchema>;

/**
 * How a model is split across devices (llama.cpp's split modes): `layer` gives each device whole
 * layers; `row` splits each weight matrix's rows across devices (backends with split buffers,
 * i.e. CUDA, only).
 */
export const SplitModeSchema = z.enum(["layer", "row"]);
export type SplitMode = z.infer<typeof SplitModeSchema>;

/** Device names for a split; at most llama.cpp's 16. */
const SplitDevicesSchema = z.array(z.string().min(1).max(200)).min(2).max(16);
/**
 * Relative shares of a split's devices (llama.cpp's `tensor_split`), one per device. Each above
 * 0: a device listed takes part (llama.cpp's 0 = "none" is said by leaving it out).
 */
const TensorSplitSchema = z.array(
  z.number().gt(0, "a share above 0 (leave a device out of devices instead)").max(1e6),
).min(2).max(16);

export const LoadRequestSchema = z.strictObject({
  /** The name the model is served under. */
  model: ModelKeySchema,
  /** Store id of the GGUF file (relative path without .gguf); defaults to `model`. */
  source: z.string().min(1).max(500).optional(),
  /** Device name (e.g. "CUDA0"); defaults to the one with the most free memory. */
  device: z.string().min(1).optional(),
  /** Tokens of context per request slot. */
  context: z.int().min(64).max(1 << 20).optional(),
  /** Parallel request slots. */
  slots: z.int().min(1).max(256).optional(),
  /** KV cache type; defaults to the neuron's `kv_cache_type`. */
  kv_cache_type: KvCacheTypeSchema.optional(),
  embeddings: z.boolean().optional(),
  /** GPU layers to offload (-1 = all). */
  gpu_layers: z.int().min(-1).optional(),
  /** Store id of a draft model (same vocabulary) loaded beside this one on its device. */
  draft: z.string().min(1).max(500).optional(),
  /** How requests that do not say speculate; default "draft" with a draft model, else "off". */
  speculative: SpeculativeModeSchema.optional(),
  /** Most tokens drafted per sequence per step (default 16). */
  draft_max: z.int().min(1).max(DRAFT_MAX_LIMIT).optional(),
  /** A draft model's top token below this probability ends its draft (default 0). */
  draft_min_p: z.number().min(0).max(1).optional(),
  /**
   * Split the model across devices. Absent: one device, or a layer split over as many devices
   * as it needs when it fits no single one.
   */
  split: SplitModeSchema.optional(),
  /** The devices of a split, in order (absent with `split`: as many as it needs). */
  devices: SplitDevicesSchema.optional(),
  /** Shares of `devices` (absent: by each device's free budget). */
  tensor_split: TensorSplitSchema.optional(),
  /** Stream progress as SSE (`event: progress`) and end with the result. */
  stream: z.boolean().optional(),
}).superRefine((r, ctx) => {
  if (r.device !== undefined && (r.devices !== undefined || r.split !== undefined)) {
    ctx.addIssue({
      code: "custom",
      path: ["device"],
      message: "one device or a split (split / devices), not both",
    });
  }
  if (r.tensor_split !== undefined && r.devices === undefined) {
    ctx.addIssue({
      code: "custom",
      path: ["tensor_split"],
      message: "tensor_split needs devices: one share per device, in the same order",
    });
  } else if (r.tensor_split !== undefined && r.tensor_split.length !== r.devices!.length) {
    ctx.addIssue({
      code: "custom",
      path: ["tensor_split"],
      message: `expected ${
        r.devices!.length
      } shares (one per device), found ${r.tensor_split.length}`,
    });
  }
  if (r.devices !== undefined && new Set(r.devices).size !== r.devices.length) {
    ctx.addIssue({ code: "custom", path: ["devices"], message: "a device is named twice" });
  }
  if (r.gpu_layers !== undefined && (r.devices !== undefined || r.split !== undefined)) {
    ctx.addIssue({
      code: "custom",
      path: ["gpu_layers"],
      message: "gpu_layers is for one device; a split places every layer",
    });
  }
});
export type LoadRequest = z.infer<typeof LoadRequestSchema>;

export const UnloadRequestSchema = z.strictObject({ model: ModelKeySchema });
export type UnloadRequest = z.infer<typeof UnloadRequestSchema>;

export const ModelStateSchema = z.enum(["available", "loading", "loaded", "failed"]);
export type ModelState = z.infer<typeof ModelStateSchema>;

export const MarkersSchema = z.object({ open: z.string(), close: z.string() }).nullable();

/** A loaded model's speculation settings and what it drafted and had accepted since loading. */
export const SpeculationStateSchema = z.object({
  mode: SpeculativeModeSchema,
  /** Store id of the draft model, if any. */
  draft: z.string().nullable(),
  draft_max: z.number(),
  draft_min_p: z.number(),
  drafted_tokens: z.number(),
  accepted_tokens: z.number(),
});
export type SpeculationState = z.infer<typeof SpeculationStateSchema>;
/** One device's part of a split model: its layers and the memory accounted to it. */
export const SplitShareSchema = z.object({
  device: z.string(),
  /** Repeating layers on this device (the output layer counts with the last device). */
  layers: z.number(),
  memory_bytes: z.number(),
});
export type SplitShare = z.infer<typeof SplitShareSchema>;

export const ModelSplitSchema = z.object({
  mode: SplitModeSchema,
  shares: z.array(SplitShareSchema),
});
export type ModelSplit = z.infer<typeof ModelSplitSchema>;

export const NeuronModelSchema = z.object({
  id: z.string(),
  /** Store id of the file. */
  source: z.string(),
  state: ModelStateSchema,
  /** The device holding it; for a split, the first of its devices (the one that runs it). */
  device: z.string().nullable(),
  /**
   * A split model's devices and each one's share of `memory_bytes`; for an available model,
   * the split a load at the neuron's defaults would get (it fits no single device). Absent or
   * null: one device (optional: older neurons do not send it).
   */
  split: ModelSplitSchema.nullable().optional(),
  size_bytes: z.number(),
  /** Memory the neuron accounts for this model while resident (estimate). */
  memory_bytes: z.number().nullable(),
  /** Context the model was trained for. */
  context_length: z.number().nullable(),
  /** Context per slot and slots: as loaded, or (available) the neuron's defaults for it. */
  context: z.number().nullable(),
  slots: z.number().nullable(),
  /** KV cache bytes per token of context, to size loads at other context/slot settings. */
  kv_bytes_per_token: z.number().nullable(),
  /** The KV cache type those bytes are for (as loaded, or the neuron's default). */
  kv_cache_type: KvCacheTypeSchema.optional(),
  reasoning: MarkersSchema,
  /**
   * From the GGUF header, where it says (optional: older neurons do not send them):
   * `general.architecture`, the weights in the file's tensors, and `general.file_type` by
   * llama.cpp's name for it (`F16`, `Q4_K_M`, ...).
   */
  architecture: z.string().optional(),
  parameter_count: z.number().optional(),
  quantization: z.string().optional(),
  chat_template: z.boolean(),
  tool_format: z.string().nullable(),
  embeddings: z.boolean(),
  /** Loaded models only (absent from neurons before speculation existed). */
  speculation: SpeculationStateSchema.nullable().optional(),
  in_flight: z.number(),
  queued: z.number(),
  progress: z.number().nullable(),
  error: z.string().nullable(),
  loaded_at: z.number().nullable(),
  last_used: z.number().nullable(),
});
export type NeuronModel = z.infer<typeof NeuronModelSchema>;

export const DeviceSchema = z.object({
  name: z.string(),
  description: z.string(),
  type: z.string(),
  state: z.enum(["ok", "failed"]),
  error: z.string().nullable(),
  memory_total_bytes: z.number(),
  memory_free_bytes: z.number(),
  /** Budget set in neuron.toml, when it overrides the device's own figure. */
  memory_budget_bytes: z.number().nullable(),
  memory_used_bytes: z.number(),
  /** A device of an RPC server (`rpc_servers`): it takes shares of splits, never a whole model. */
  remote: z.boolean().optional(),
  temperature_c: z.number().nullable(),
  utilization_percent: z.number().nullable(),
});
export type Device = z.infer<typeof DeviceSchema>;

export const HealthSchema = z.object({
  status: z.enum(["ok", "degraded"]),
  name: z.string(),
  version: z.string(),
  uptime_s: z.number(),
  devices: z.array(DeviceSchema),
  models: z.array(NeuronModelSchema),
});
export type Health = z.infer<typeof HealthSchema>;

export const VersionSchema = z.object({
  name: z.literal("neuron"),
  version: z.string(),
  llama_cpp: z.string(),
  deno: z.string(),
});
export type Version = z.infer<typeof VersionSchema>;

export const DiscoverySchema = z.object({
  devices: z.array(DeviceSchema),
  library: z.object({
    dir: z.string(),
    version: z.string(),
    system_info: z.string(),
    /** library_path from the config, a verified local build (cortex llama-build), or npm's. */
    origin: z.enum(["library_path", "local-build", "npm-prebuilt"]).optional(),
    /** The local build's variant ("cpu-native", "cuda13-sm90a") or the npm package. */
    variant: z.string().optional(),
    /** Registered ggml backends ("CPU", "CUDA", "RPC"). */
    backends: z.array(z.string()).optional(),
  }),
  capabilities: z.object({
    chat: z.boolean(),
    completions: z.boolean(),
    embeddings: z.boolean(),
    tools: z.boolean(),
    grammar: z.boolean(),
    reasoning: z.boolean(),
  }),
});
export type Discovery = z.infer<typeof DiscoverySchema>;

export const ModelsListSchema = z.object({ models: z.array(NeuronModelSchema) });

/** `POST /models/show`: one model, by the id it is listed under. */
export const ShowRequestSchema = z.strictObject({ model: ModelKeySchema });

/**
 * What `/models/show` answers: the model as listed, and the text of the chat template in
 * force (the GGUF's `tokenizer.chat_template`; null when it has none). The text stays out of
 * the polled listing: templates run to kilobytes, and only a client's "show" needs them.
 */
export const ModelShowSchema = z.object({
  model: NeuronModelSchema,
  chat_template: z.string().nullable(),
});
export type ModelShow = z.infer<typeof ModelShowSchema>;

export const TokenizeRequestSchema = z.looseObject({
  model: z.string().min(1),
  /** Plain text, or chat messages rendered with the model's template. */
  prompt: z.string().optional(),
  messages: z.array(z.unknown()).optional(),
  tools: z.array(z.unknown()).nullish(),
  chat_template_kwargs: BoundedRecordSchema.nullish(),
  add_generation_prompt: z.boolean().optional(),
  /** Also return the token ids. */
  return_tokens: z.boolean().optional(),
});
export type TokenizeRequest = z.infer<typeof TokenizeRequestSchema>;

export const TokenizeResponseSchema = z.object({
  model: z.string(),
  count: z.number(),
  tokens: z.array(z.number()).optional(),
});
