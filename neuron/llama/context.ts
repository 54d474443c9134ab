/** An inference context (KV cache + compute buffers) over a loaded model. */

import { AbortFlag } from "./abort_flag.ts";
import type { Batch } from "./batch.ts";
import type { LlamaLibrary } from "./library.ts";
import type { LlamaModel } from "./model.ts";
import type { KvCacheType } from "../../core/neuron/schemas.ts";
import {
  CP,
  FLASH_ATTN_AUTO,
  FLASH_ATTN_ENABLED,
  GGML_TYPE,
  POOLING_MEAN,
  setPointer,
  view,
} from "./structs.ts";

export interface ContextOptions {
  /** Total KV cells shared by all sequences (unified cache). */
  nCtx: number;
  nBatch: number;
  nSeqMax: number;
  nThreads: number;
  nThreadsBatch?: number;
  /** Pooled embeddings instead of logits. */
  embeddings?: boolean;
  /** Physical batch (compute buffer size); defaults to nBatch. */
  nUbatch?: number;
  /** K and V cache element type; default f16. */
  kvType?: KvCacheType;
}

/** llama_decode's documented return codes. */
export const DECODE_OK = 0;
export const DECODE_NO_KV_SLOT = 1;
export const DECODE_ABORTED = 2;

export class LlamaContext {
  readonly ptr: Deno.PointerValue;
  readonly memory: Deno.PointerValue;
  readonly nCtx: number;
  readonly nBatch: number;
  readonly nSeqMax: number;
  readonly abort = new AbortFlag();
  #lib: LlamaLibrary;
  #freed = false;

  private constructor(lib: LlamaLibrary, ptr: Deno.PointerValue) {
    this.#lib = lib;
    this.ptr = ptr;
    const l = lib.llama;
    this.memory = l.llama_get_memory(ptr);
    this.nCtx = l.llama_n_ctx(ptr);
    this.nBatch = l.llama_n_batch(ptr);
    this.nSeqMax = l.llama_n_seq_max(ptr);
    l.llama_set_abort_callback(ptr, lib.strlen, this.abort.pointer);
  }

  static async create(
    lib: LlamaLibrary,
    model: LlamaModel,
    opts: ContextOptions,
  ): Promise<LlamaContext> {
    const l = lib.llama;
    const params = l.llama_context_default_params();
    const dv = view(params);
    dv.setUint32(CP.n_ctx, opts.nCtx, true);
    dv.setUint32(CP.n_batch, opts.nBatch, true);
    dv.setUint32(CP.n_ubatch, opts.nUbatch ?? opts.nBatch, true);
    dv.setUint32(CP.n_seq_max, opts.nSeqMax, true);
    dv.setInt32(CP.n_threads, opts.nThreads, true);
    dv.setInt32(CP.n_threads_batch, opts.nThreadsBatch ?? opts.nThreads, true);
    const kvType = opts.kvType ?? "f16";
    // A quantized V cache is only read by flash attention: ask for it outright, so a backend
    // without it fails here (a clear refusal) instead of llama.cpp falling back silently.
    dv.setInt32(CP.flash_attn_type, kvType === "f16" ? FLASH_ATTN_AUTO : FLASH_ATTN_ENABLED, true);
    dv.setInt32(CP.type_k, GGML_TYPE[kvType], true);
    dv.setInt32(CP.type_v, GGML_TYPE[kvType], true);
    // One KV stream per sequence: a slot's cells stay contiguous, so attention skips the
    // others' (a shared cache interleaves them and cost 7–25% CPU in the engine bench).
    // Slots never share cells: prefix reuse is within a slot.
    dv.setUint8(CP.kv_unified, 0);
    dv.setUint8(CP.no_perf, 1);
    if (opts.embeddings) {
      dv.setUint8(CP.embeddings, 1);
      dv.setInt32(CP.pooling_type, POOLING_MEAN, true);
    }
    setPointer(dv, CP.abort_callback, null);
    const ptr = await l.llama_init_from_model(model.ptr, params);
    if (ptr === null) {
      throw new Error(
        kvType === "f16"
          ? `llama.cpp could not create a context (n_ctx ${opts.nCtx}, ${opts.nSeqMax} sequences): likely out of memory`
          : `llama.cpp could not create a context with a ${kvType} KV cache (n_ctx ${opts.nCtx}, ${opts.nSeqMax} sequences): the backend needs flash attention for it and may lack it, or memory ran out; try kv_cache_type "f16"`,
      );
    }
    return new LlamaContext(lib, ptr);
  }

  /** Runs one decode off-thread. Returns llama_decode's code. */
  decode(batch: Batch): Promise<number> {
    return this.#lib.llama.llama_decode(this.ptr, batch.struct);
  }

  /** Same, blocking the calling thread (benchmark peer only). */
  decodeSync(batch: Batch): number {
    return this.#lib.llama.llama_decode_sync(this.ptr, batch.struct);
  }

  /** Waits off-thread until the last decode's device work is done (its logits readable). */
  synchronize(): Promise<void> {
    return this.#lib.llama.llama_synchronize(this.ptr);
  }

  /** Drops positions [from, ∞) of a sequence (or the whole sequence with from = -1). */
  truncate(seq: number, from: number): boolean {
    return this.#lib.llama.llama_memory_seq_rm(this.memory, seq, from, -1);
  }

  clear(): void {
    this.#lib.llama.llama_memory_clear(this.memory, true);
  }

  /** Highest position held for a sequence, -1 when empty. */
  seqPosMax(seq: number): number {
    return this.#lib.llama.llama_memory_seq_pos_max(this.memory, seq);
  }

  /** Pooled embedding of a sequence (embeddings contexts only). */
  sequenceEmbedding(seq: number, nEmbd: number): Float32Array {
    const p = this.#lib.llama.llama_get_embeddings_seq(this.ptr, seq);
    if (p === null) throw new Error("no pooled embedding for this sequence");
    return new Float32Array(Deno.UnsafePointerView.getArrayBuffer(p, nEmbd * 4).slice(0));
  }

  free(): void {
    if (this.#freed) return;
    this.#freed = true;
    this.#lib.llama.llama_free(this.ptr);
  }

  /** Frees off-thread: with an RPC device, a lost server parks the call, not the thread. */
  async freeOffThread(): Promise<void> {
    if (this.#freed) return;
    this.#freed = true;
    await this.#lib.llama.llama_free_async(this.ptr);
  }
}
