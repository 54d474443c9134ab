/** What a GGUF header tells about a model before it is loaded. */

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
  nVocab: number;
  hasChatTemplate: boolean;
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
  const tokens = h.metadata.get("tokenizer.ggml.tokens");
  const vocab = Array.isArray(tokens) ? new Set(tokens as string[]) : new Set<string>();
  const pair = PAIRS.find(([o, c]) => vocab.has(o) && vocab.has(c));
  return {
    architecture: arch,
    name: metaString(h, "general.name") ?? null,
    contextLength: n("context_length") ?? null,
    nLayer: n("block_count") ?? 0,
    nEmbd,
    nHead,
    nHeadKv,
    nEmbdKv: Math.round(headDim * nHeadKv),
    nVocab: Array.isArray(tokens) ? tokens.length : 0,
    hasChatTemplate: typeof h.metadata.get("tokenizer.chat_template") === "string",
    markers: pair ? { open: pair[0], close: pair[1] } : null,
    fileBytes,
  };
}

/** f16 K and V for every layer: the KV cache's cost per token of context. */
export function kvBytesPerToken(s: ModelSummary): number {
  return 2 * s.nLayer * s.nEmbdKv * 2;
}

/**
 * Bytes a model needs resident: weights, an f16 KV cache for every cell,
 * and compute buffers (logits for a batch plus activations). Errs high:
 * refusing a load up front is better than failing halfway.
 */
export function estimateMemory(
  s: ModelSummary,
  ctx: { cells: number; nBatch: number },
): { weights: number; kv: number; compute: number; total: number } {
  const weights = s.fileBytes;
  const kv = kvBytesPerToken(s) * ctx.cells;
  const compute = ctx.nBatch * (s.nVocab + 16 * s.nEmbd) * 4 + 8 * 1024 * 1024;
  return { weights, kv, compute, total: weights + kv + compute };
}
