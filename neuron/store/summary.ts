/** What a GGUF header tells about a model before it is loaded. */

import { GGMLFileQuantizationType } from "@huggingface/gguf";
import type { KvCacheType, NeuronModel } from "../../core/neuron/schemas.ts";
import { type GgufHeader, metaNumber, metaString } from "./gguf_header.ts";

export interface ModelSummary {
  architecture: string;
  name: string | null;
  contextLength: number | null;
  nLayer: number;
  nEmbd: number;
  nHead: number;
  nHeadKv: number;
  /** Key/value width per token per layer (n_embd_head_k × n_head_kv). */
  nEmbdKv: number;
  /** Per-head widths of K and V (a quantized cache needs them to be whole blocks). */
  headDimK: number;
  headDimV: number;
  nVocab: number;
  /** `tokenizer.chat_template`: the Jinja text generation renders prompts with. */
  chatTemplate: string | null;
  /** Weights in the file's tensors; null for one part of a split model (the rest is elsewhere). */
  parameterCount: number | null;
  /** `general.file_type` by llama.cpp's name for it (`F16`, `Q4_K_M`, ...); null when absent. */
  quantization: string | null;
  /** A reasoning marker pair present as vocabulary entries. */
  markers: { open: string; close: string } | null;
  fileBytes: number;
}

const PAIRS: ReadonlyArray<readonly [string, string]> = [
  ["<think>", "</think>"],
  ["[THINK]", "[/THINK]"],
  ["<thinking>", "</thinking>"],
  ["<|begin_of_thought|>", "<|end_of_thought|>"],
  ["<seed:think>", "</seed:think>"],
  ["◁think▷", "◁/think▷"],
  ["<reasoning>", "</reasoning>"],
];

export function summarize(h: GgufHeader, fileBytes: number): ModelSummary {
  const arch = metaString(h, "general.architecture") ?? "unknown";
  const n = (k: string) => metaNumber(h, `${arch}.${k}`);
  const nEmbd = n("embedding_length") ?? 0;
  const nHead = n("attention.head_count") ?? 1;
  const nHeadKv = n("attention.head_count_kv") ?? nHead;
  const headDim = n("attention.key_length") ?? (nHead ? nEmbd / nHead : 0);
  const headDimV = n("attention.value_length") ?? headDim;
  const tokens = h.metadata.get("tokenizer.ggml.tokens");
  const vocab = Array.isArray(tokens) ? new Set(tokens as string[]) : new Set<string>();
  const pair = PAIRS.find(([o, c]) => vocab.has(o) && vocab.has(c));
  const template = h.metadata.get("tokenizer.chat_template");
  const fileType = metaNumber(h, "general.file_type");
  return {
    architecture: arch,
    name: metaString(h, "general.name") ?? null,
    contextLength: n("context_length") ?? null,
    nLayer: n("block_count") ?? 0,
    nEmbd,
    nHead,
    nHeadKv,
    nEmbdKv: Math.round(headDim * nHeadKv),
    headDimK: headDim,
    headDimV,
    nVocab: Array.isArray(tokens) ? tokens.length : 0,
    chatTemplate: typeof template === "string" ? template : null,
    parameterCount: (metaNumber(h, "split.count") ?? 1) > 1 ? null : h.parameterCount,
    // The enum's reverse mapping gives llama.cpp's LLAMA_FTYPE_MOSTLY_* names (same numbers).
    quantization: fileType === undefined ? null : GGMLFileQuantizationType[fileType] ?? null,
    markers: pair ? { open: pair[0], close: pair[1] } : null,
    fileBytes,
  };
}

/** What a model listing tells of the file (absent where the header does not say). */
export function modelFacts(
  s: ModelSummary | null,
): Pick<NeuronModel, "architecture" | "parameter_count" | "quantization"> {
  if (!s) return {};
  return {
    ...(s.architecture !== "unknown" ? { architecture: s.architecture } : {}),
    ...(s.parameterCount !== null ? { parameter_count: s.parameterCount } : {}),
    ...(s.quantization !== null ? { quantization: s.quantization } : {}),
  };
}

/** Bytes per element of each KV cache type (q8_0 / q4_0: 34 / 18 bytes per block of 32). */
const KV_ELEMENT_BYTES: Record<KvCacheType, number> = { f16: 2, q8_0: 34 / 32, q4_0: 18 / 32 };

/** Elements per quantization block: a quantized cache needs head widths that are whole blocks. */
export const KV_BLOCK: Record<KvCacheType, number> = { f16: 1, q8_0: 32, q4_0: 32 };

/** K and V for every layer: the KV cache's cost per token of context. */
export function kvBytesPerToken(s: ModelSummary, type: KvCacheType = "f16"): number {
  const nHeadKv = s.headDimK ? s.nEmbdKv / s.headDimK : 0;
  const width = s.nEmbdKv + Math.round(s.headDimV * nHeadKv);
  return Math.ceil(s.nLayer * width * KV_ELEMENT_BYTES[type]);
}

/**
 * Bytes a model needs resident: weights, an f16 KV cache for every cell,
 * and compute buffers (logits for a batch plus activations). Errs high:
 * refusing a load up front is better than failing halfway.
 */
export function estimateMemory(
  s: ModelSummary,
  ctx: { cells: number; nBatch: number; kvType?: KvCacheType },
): { weights: number; kv: number; compute: number; total: number } {
  const weights = s.fileBytes;
  const kv = kvBytesPerToken(s, ctx.kvType) * ctx.cells;
  const compute = computeBytes(s, ctx.nBatch);
  return { weights, kv, compute, total: weights + kv + compute };
}

/** Compute buffers: logits for a batch plus activations (flash attention keeps KQ out). */
export function computeBytes(s: ModelSummary, nBatch: number): number {
  return nBatch * (s.nVocab + 16 * s.nEmbd) * 4 + 8 * 1024 * 1024;
}
