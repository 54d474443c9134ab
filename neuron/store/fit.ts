/**
 * How much context and how many slots a model gets on a device. A coding agent's first
 * request is 16k–50k tokens (a system prompt and tool definitions), so a fixed small default
 * turns every agent away; the rule instead starts from the model's trained length and reduces
 * only as far as the device's memory requires:
 *
 * 1. Weights and compute buffers come first; what remains holds the KV cache.
 * 2. Context per slot is reduced first, from the trained length down to AGENT_CONTEXT.
 * 3. Then slots (when not set explicitly), 4 → 1, so one request keeps AGENT_CONTEXT.
 * 4. Then context again, down to MIN_CONTEXT; below that the load is refused with the
 *    numbers, rather than served starved.
 *
 * An explicit context or slot count (neuron.toml, models.toml, the load request) is never
 * changed: a setting that cannot fit is refused before anything is loaded.
 */

import type { KvCacheType } from "../../core/neuron/schemas.ts";
import { computeBytes, KV_BLOCK, kvBytesPerToken, type ModelSummary } from "./summary.ts";

/** Slots when none are configured. */
export const DEFAULT_SLOTS = 4;
/** Context per request kept before slots are given up (Claude Code's first request ≈ 30k). */
export const AGENT_CONTEXT = 32768;
/** The least context a fitted load accepts (or the trained length, when that is shorter). */
export const MIN_CONTEXT = 4096;
/** Fitted contexts are whole multiples of this (llama.cpp pads the KV cache to 256 cells). */
export const CONTEXT_STEP = 256;
/** Assumed when a GGUF does not say what it was trained for. */
export const UNKNOWN_TRAINED_CONTEXT = 4096;

const MiB = 1024 * 1024;

export interface FitRequest {
  summary: ModelSummary;
  /** Bytes the device can give this model. */
  budgetBytes: number;
  /** The device's whole budget, when more than it can give now (said in refusals). */
  totalBytes?: number;
  device: string;
  nBatch: number;
  kvType: KvCacheType;
  /** Explicit context per slot (never changed; capped at the trained length). */
  context?: number;
  /** Explicit slot count (never changed). */
  slots?: number;
  /**
   * A draft model loaded beside it: its weights, compute buffers and a KV cache of the same
   * slots and context count too (it holds every slot's tokens).
   */
  draft?: ModelSummary;
}

export interface Fit {
  context: number;
  slots: number;
  kvType: KvCacheType;
  trained: number;
  weightsBytes: number;
  computeBytes: number;
  kvBytes: number;
  totalBytes: number;
  /** What the rule gave up to fit (null when the trained length fits every slot). */
  reduced: string | null;
}

/** A setting that cannot fit the device, or a KV type the model cannot use. */
export class FitError extends Error {
  override name = "FitError";
  constructor(message: string, readonly details: Record<string, unknown>) {
    super(message);
  }
}

const mib = (b: number) => `${Math.ceil(b / MiB)} MiB`;
const roundDown = (n: number) => n < CONTEXT_STEP ? n : Math.floor(n / CONTEXT_STEP) * CONTEXT_STEP;

/** Refuses a quantized KV cache whose head widths are not whole blocks (llama.cpp would fail). */
export function checkKvType(s: ModelSummary, kvType: KvCacheType): void {
  const block = KV_BLOCK[kvType];
  const bad = [s.headDimK, s.headDimV].find((d) => d % block !== 0);
  if (bad !== undefined) {
    throw new FitError(
      `kv_cache_type "${kvType}" needs attention heads a multiple of ${block} wide (flash ` +
        `attention over ${kvType} blocks); this model's are ${bad}: use kv_cache_type "f16"`,
      { kv_cache_type: kvType, head_dim: bad, block },
    );
  }
}

export function fitModel(r: FitRequest): Fit {
  const s = r.summary;
  checkKvType(s, r.kvType);
  const trained = s.contextLength ?? UNKNOWN_TRAINED_CONTEXT;
  const d = r.draft;
  if (d) checkKvType(d, r.kvType);
  const weights = s.fileBytes + (d?.fileBytes ?? 0);
  const compute = computeBytes(s, r.nBatch) + (d ? computeBytes(d, r.nBatch) : 0);
  const perToken = kvBytesPerToken(s, r.kvType) + (d ? kvBytesPerToken(d, r.kvType) : 0);
  const room = r.budgetBytes - weights - compute;
  const cells = Math.max(0, Math.floor(room / perToken));
  const want = Math.min(r.context ?? trained, trained);
  const floor = Math.min(MIN_CONTEXT, want);
  const facts = {
    device: r.device,
    budget_bytes: r.budgetBytes,
    weights_bytes: weights,
    compute_bytes: compute,
    kv_bytes_per_token: perToken,
    kv_cache_type: r.kvType,
    trained_context: trained,
    ...(d ? { draft_weights_bytes: d.fileBytes } : {}),
  };
  const refuse = (what: string, context: number, slots: number): never => {
    const kv = perToken * context * slots;
    const need = weights + compute + kv;
    throw new FitError(
      `${what}: needs ${mib(need)} (weights ${mib(weights)}${
        d ? ` with the draft's ${mib(d.fileBytes)}` : ""
      }, compute ${mib(compute)}, ` +
        `KV cache ${mib(kv)} for ${slots} slot${slots === 1 ? "" : "s"} × ${context} tokens ` +
        `at ${r.kvType}) but ${r.device} can give ${mib(r.budgetBytes)}${
          r.totalBytes && r.totalBytes > r.budgetBytes ? ` of ${mib(r.totalBytes)}` : ""
        }; lower context or ` +
        `slots, set kv_cache_type = "q8_0" (or "q4_0"), or raise memory_budget_mb`,
      { ...facts, required_bytes: need, context, slots },
    );
  };
  if (room < perToken * floor) {
    refuse("does not fit", r.context !== undefined ? want : floor, r.slots ?? 1);
  }

  let slots = r.slots ?? DEFAULT_SLOTS;
  let context = want;
  let reduced: string | null = null;
  if (r.context !== undefined && r.slots !== undefined) {
    if (context * slots > cells) refuse("context × slots as configured", context, slots);
  } else if (r.context !== undefined) {
    // Context is set: slots give way.
    slots = Math.min(slots, Math.floor(cells / context));
    if (slots < 1) refuse(`context ${context} as configured`, context, 1);
    if (slots < DEFAULT_SLOTS) reduced = `slots ${DEFAULT_SLOTS} → ${slots} for context ${context}`;
  } else {
    context = Math.min(want, roundDown(cells / slots));
    if (r.slots === undefined && context < Math.min(AGENT_CONTEXT, want)) {
      // Fewer slots before less context: one agent request needs the long context.
      slots = Math.max(1, Math.min(slots, Math.floor(cells / Math.min(AGENT_CONTEXT, want))));
      context = Math.min(want, roundDown(cells / slots));
    }
    if (context < floor) {
      refuse(
        `${slots} slot${slots === 1 ? "" : "s"} would get ${context} tokens each, under the ` +
          `${floor}-token floor`,
        floor,
        slots,
      );
    }
    const parts = [];
    if (context < trained) parts.push(`context ${trained} → ${context}`);
    if (slots < (r.slots ?? DEFAULT_SLOTS)) parts.push(`slots ${DEFAULT_SLOTS} → ${slots}`);
    if (parts.length) reduced = `${parts.join(", ")} to fit ${mib(r.budgetBytes)}`;
  }
  const kv = perToken * context * slots;
  return {
    context,
    slots,
    kvType: r.kvType,
    trained,
    weightsBytes: weights,
    computeBytes: compute,
    kvBytes: kv,
    totalBytes: weights + compute + kv,
    reduced,
  };
}
