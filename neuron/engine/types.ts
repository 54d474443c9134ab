/** Engine types shared by the device worker and the main thread. */

import type { KvCacheType } from "../../core/neuron/schemas.ts";
import type { SpeculativeMode } from "../../core/neuron/speculative.ts";
import type { SamplingParams } from "../llama/sampler.ts";
import type { Delta } from "./output.ts";
import type { MarkerPair } from "./reasoning.ts";

export type { Delta, MarkerPair, SamplingParams, SpeculativeMode };

export interface GenerateParams {
  /** Text (tokenized with special-token parsing) or token ids. */
  prompt: string | number[];
  /** Add BOS when the vocabulary asks for it (plain completions); rendered chat prompts carry their own. */
  addSpecial?: boolean;
  maxTokens: number;
  sampling: SamplingParams;
  stop: string[];
  /**
   * `sampling.grammar` describes the answer's text (grammars the server derives from
   * response_format or a forced tool call). Tokens the output would not show as the text
   * the grammar matched them by (hidden control tokens, reasoning markers) are never sampled
   * in the answer. When the prompt opens a reasoning block, tokens run free until its close
   * marker (generation cannot end before it) and the grammar starts at the first answer
   * token. Without it, a grammar applies from the first token as written (a caller's GBNF,
   * which may name such tokens on purpose).
   */
  answerGrammar?: boolean;
  /**
   * Makes `sampling.grammar` lazy: it applies once the model emits this text as
   * one token (a tool-call marker such as `<tool_call>`), so free text stays
   * free but every call it starts is well formed. No such token: no grammar.
   */
  grammarTrigger?: string;
  /** Drafting for this request; absent = the model's default. Output is the same either way. */
  speculative?: SpeculativeMode;
  /**
   * The most tokens the model may reason for: once its reasoning block holds this many, the
   * close marker is put in place of the next sample and the answer starts (Anthropic's
   * `thinking.budget_tokens`). Absent: no limit but `maxTokens`.
   */
  reasoningBudget?: number;
}

export type FinishReason = "stop" | "length" | "cancelled" | "error";

export interface Usage {
  promptTokens: number;
  /** Prompt tokens reused from the slot's KV cache (not prefilled again). */
  cachedTokens: number;
  completionTokens: number;
  reasoningTokens: number;
  /** Tokens drafted for this request and verified, and how many of them were accepted. */
  draftedTokens: number;
  acceptedTokens: number;
}

export interface Timings {
  queuedMs: number;
  /** Submit → first sampled token. */
  ttftMs: number;
  totalMs: number;
}

export type EngineEvent =
  /** Accepted: waiting for a slot (`position` ahead of it) or about to start. */
  | { type: "queued"; position: number }
  | { type: "start"; promptTokens: number; cachedTokens: number; reasoning: boolean }
  | { type: "delta"; deltas: Delta[] }
  | {
    type: "done";
    finishReason: FinishReason;
    /** The stop string that ended generation, if any. */
    stop?: string;
    usage: Usage;
    timings: Timings;
  }
  | { type: "error"; code: EngineErrorCode; message: string; limit?: ContextLimit };

/** What a `context_exceeded` refusal measured: the tokens given and the most allowed. */
export interface ContextLimit {
  tokens: number;
  /** The context a request may fill (per slot, or the embedding batch). */
  max: number;
}

export type EngineErrorCode =
  | "queue_full"
  | "context_exceeded"
  | "not_loaded"
  | "grammar"
  | "decode_failed"
  | "worker_failed"
  | "bad_request";

export class EngineError extends Error {
  override name = "EngineError";
  constructor(
    readonly code: EngineErrorCode,
    message: string,
    /** Set on `context_exceeded`, so the API can word the refusal as its dialect does. */
    readonly limit?: ContextLimit,
  ) {
    super(message);
  }
}

/** Refuses (`bad_request`) a token id that is no token of a vocabulary of `nTokens`. */
export function checkTokens(ids: Iterable<number>, nTokens: number, what: string): void {
  for (const t of ids) {
    if (!Number.isInteger(t) || t < 0 || t >= nTokens) {
      throw new EngineError("bad_request", `${what} token ${t} is outside the vocabulary`);
    }
  }
}

export interface LoadOptions {
  /** Tokens of context per slot. */
  context: number;
  slots: number;
  /** KV cache element type (default f16); a quantized one turns flash attention on. */
  kvCacheType?: KvCacheType;
  nBatch: number;
  nThreads: number;
  nThreadsBatch?: number;
  maxQueue: number;
  /** Also create a pooled-embeddings context. */
  embeddings?: boolean;
  /** Layers to offload on a GPU device (-1 = all). */
  gpuLayers?: number;
  /** How requests that do not say speculate (default: "draft" with a draft model, else "off"). */
  speculative?: SpeculativeMode;
  /** A draft model (GGUF path) loaded beside this one, on the same device. */
  draftPath?: string;
  /** Most tokens drafted per sequence per step (default DEFAULT_DRAFT_MAX). */
  draftMax?: number;
  /** A draft model's top token below this probability ends its draft (default 0). */
  draftMinP?: number;
  /** A split over several devices (the owning worker's device is one of them). */
  split?: SplitLoad;
}

/** What a worker needs to load a split model (planned by neuron/store/split.ts). */
export interface SplitLoad {
  mode: "layer" | "row";
  /** ggml indices of the devices layers are offloaded to, in order (the CPU is never one). */
  offload: number[];
  /** `tensor_split` over `offload`. */
  tensorSplit: number[];
  /** `n_gpu_layers`: layers not on the CPU, plus the output layer. */
  gpuLayers: number;
  /**
   * An RPC device takes part: every decode runs off the worker's thread, because a lost
   * server parks the call for good (see neuron/llama/rpc.ts).
   */
  remote: boolean;
}

export const DEFAULT_DRAFT_MAX = 16;

export interface LoadedModelInfo {
  key: string;
  path: string;
  description: string;
  sizeBytes: number;
  params: number;
  nCtxTrain: number;
  nEmbd: number;
  /** Tokens in the vocabulary: token ids in requests are checked against it. */
  nVocab: number;
  context: number;
  slots: number;
  chatTemplate: string | null;
  markers: MarkerPair | null;
  bosText: string;
  eosText: string;
  /** Texts of control/user-defined tokens (tool-format detection). */
  specialTokens: string[];
  embeddings: boolean;
  addBos: boolean;
}

export interface ModelStats {
  key: string;
  slots: number;
  active: number;
  queued: number;
  kvUsedCells: number;
  kvTotalCells: number;
  promptTokensProcessed: number;
  promptTokensCached: number;
  generatedTokens: number;
  requestsCompleted: number;
  decodeSteps: number;
  draftedTokens: number;
  acceptedTokens: number;
}
