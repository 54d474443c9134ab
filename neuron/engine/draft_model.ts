/**
 * A draft model: a small model with the target's vocabulary that proposes the next tokens
 * of every speculating sequence, greedily. It lives on its target's worker and device, with
 * its own context holding one KV stream per slot (the target's slot numbers), and is loaded
 * and freed with the target.
 *
 * Each draft call first brings a sequence's draft cache up to the target's accepted history
 * (whatever differs after the common prefix is removed and decoded again: rejected drafts,
 * a new prompt), then decodes one token per step for all sequences together.
 */

import { Batch } from "../llama/batch.ts";
import { DECODE_OK, LlamaContext } from "../llama/context.ts";
import type { LlamaLibrary } from "../llama/library.ts";
import type { LlamaModel } from "../llama/model.ts";
import type { Vocab } from "../llama/vocab.ts";
import type { KvCacheType } from "../../core/neuron/schemas.ts";

/** llama.cpp's own limit for a draft vocabulary that differs in size from the target's. */
const MAX_VOCAB_SIZE_DIFFERENCE = 128;
/** Token ids below this may differ (llama.cpp skips them too: padding and special slots). */
const CHECK_FROM_TOKEN = 5;

export class DraftVocabError extends Error {
  override name = "DraftVocabError";
}

/**
 * Why a draft's vocabulary cannot serve the target (its tokens would mean other text), or
 * null when it can: the same tokenizer type, BOS/EOS, sizes within 128, and the same text
 * for every token both have.
 */
function draftVocabMismatch(lib: LlamaLibrary, target: Vocab, draft: Vocab): string | null {
  const l = lib.llama;
  const tt = l.llama_vocab_type(target.ptr);
  const dt = l.llama_vocab_type(draft.ptr);
  if (tt !== dt) return `tokenizer type ${dt} differs from the target's ${tt}`;
  if (target.addBos !== draft.addBos) return "one adds BOS and the other does not";
  if (target.addBos && l.llama_vocab_bos(target.ptr) !== l.llama_vocab_bos(draft.ptr)) {
    return `BOS token ${l.llama_vocab_bos(draft.ptr)} differs from ${
      l.llama_vocab_bos(target.ptr)
    }`;
  }
  if (l.llama_vocab_eos(target.ptr) !== l.llama_vocab_eos(draft.ptr)) {
    return `EOS token ${l.llama_vocab_eos(draft.ptr)} differs from ${
      l.llama_vocab_eos(target.ptr)
    }`;
  }
  const diff = Math.abs(target.nTokens - draft.nTokens);
  if (diff > MAX_VOCAB_SIZE_DIFFERENCE) {
    return `${draft.nTokens} tokens against the target's ${target.nTokens} (at most ` +
      `${MAX_VOCAB_SIZE_DIFFERENCE} apart)`;
  }
  const n = Math.min(target.nTokens, draft.nTokens);
  for (let t = CHECK_FROM_TOKEN; t < n; t++) {
    const a = target.text(t);
    const b = draft.text(t);
    if (a !== b) return `token ${t} is ${JSON.stringify(b)}, the target's is ${JSON.stringify(a)}`;
  }
  return null;
}

export interface DraftRequest {
  seq: number;
  /** The target's accepted tokens: prompt and output, the last sampled token included. */
  history: ArrayLike<number>;
  /** Most tokens to propose. */
  max: number;
}

export interface DraftContextOptions {
  slots: number;
  context: number;
  nBatch: number;
  nThreads: number;
  nThreadsBatch?: number;
  kvType?: KvCacheType;
}

/** Runs a decode: the scheduler's choice of this thread or a helper thread. */
export type Decode = (ctx: LlamaContext, batch: Batch) => Promise<number> | number;

export class DraftModel {
  readonly model: LlamaModel;
  readonly ctx: LlamaContext;
  /** Below this probability the draft's top token ends its draft. */
  readonly minP: number;
  readonly #lib: LlamaLibrary;
  readonly #batch: Batch;
  /** Per slot, the tokens whose KV the draft context holds, in position order. */
  readonly #caches: number[][];
  readonly #nVocab: number;
  readonly #targetVocab: number;

  private constructor(
    lib: LlamaLibrary,
    model: LlamaModel,
    ctx: LlamaContext,
    slots: number,
    minP: number,
    targetVocab: number,
  ) {
    this.#lib = lib;
    this.model = model;
    this.ctx = ctx;
    this.minP = minP;
    this.#batch = new Batch(ctx.nBatch);
    this.#caches = Array.from({ length: slots }, () => []);
    this.#nVocab = model.vocab.nTokens;
    this.#targetVocab = targetVocab;
  }

  /**
   * Checks the draft's vocabulary against the target's and creates its context; frees
   * nothing it was given (the caller owns `model`) and everything it made, on failure.
   */
  static async create(
    lib: LlamaLibrary,
    model: LlamaModel,
    target: LlamaModel,
    opts: DraftContextOptions & { minP: number },
  ): Promise<DraftModel> {
    const why = draftVocabMismatch(lib, target.vocab, model.vocab);
    if (why) throw new DraftVocabError(`the draft model's vocabulary does not match: ${why}`);
    const ctx = await LlamaContext.create(lib, model, {
      nCtx: opts.context * opts.slots,
      nBatch: opts.nBatch,
      nSeqMax: opts.slots,
      nThreads: opts.nThreads,
      nThreadsBatch: opts.nThreadsBatch,
      kvType: opts.kvType,
    });
    return new DraftModel(lib, model, ctx, opts.slots, opts.minP, target.vocab.nTokens);
  }

  /**
   * Forgets a slot's cache after the draft's own decode failed: what it holds is then
   * unknown, and the next draft call decodes the slot's history again.
   */
  #reset(seq: number): void {
    this.ctx.truncate(seq, -1);
    this.#caches[seq].length = 0;
  }

  /**
   * Proposes up to `max` tokens for each request (fewer where the draft is unsure or a
   * token lies outside the target's vocabulary). Rejects with the decode's code on failure
   * after clearing the caches it touched.
   */
  async draft(reqs: DraftRequest[], decode: Decode): Promise<number[][]> {
    const out: number[][] = reqs.map(() => []);
    const b = this.#batch;
    // Catch up: each sequence's missing history, chunked by the batch; the last history
    // token's logits give the first draft token.
    const pending = reqs.map((r) => {
      const cache = this.#caches[r.seq];
      let n = commonPrefix(cache, r.history);
      // The last token is always decoded again: its logits start the draft.
      if (n === r.history.length) n--;
      if (cache.length > n) {
        this.ctx.truncate(r.seq, n);
        cache.length = n;
      }
      return n;
    });
    const outIndex = reqs.map(() => -1);
    const busy = reqs.map((r) => r.max > 0);
    while (busy.some((x, i) => x && pending[i] < reqs[i].history.length)) {
      b.clear();
      for (let i = 0; i < reqs.length; i++) {
        const r = reqs[i];
        const cache = this.#caches[r.seq];
        while (busy[i] && pending[i] < r.history.length && b.size < b.capacity) {
          const tok = r.history[pending[i]++];
          const last = pending[i] === r.history.length;
          const at = b.add(tok, cache.length, r.seq, last);
          cache.push(tok);
          if (last) outIndex[i] = at;
        }
      }
      await this.#decode(decode, reqs, busy);
    }
    // Draft: one token per busy sequence per decode.
    for (;;) {
      b.clear();
      for (let i = 0; i < reqs.length; i++) {
        if (!busy[i]) continue;
        const tok = this.#pick(outIndex[i]);
        if (tok < 0) {
          busy[i] = false;
          continue;
        }
        out[i].push(tok);
        if (out[i].length >= reqs[i].max) {
          busy[i] = false;
          continue;
        }
        const cache = this.#caches[reqs[i].seq];
        outIndex[i] = b.add(tok, cache.length, reqs[i].seq, true);
        cache.push(tok);
      }
      if (b.size === 0) break;
      await this.#decode(decode, reqs, busy);
    }
    return out;
  }

  async #decode(decode: Decode, reqs: DraftRequest[], busy: boolean[]): Promise<void> {
    const rc = await decode(this.ctx, this.#batch);
    if (rc !== DECODE_OK) {
      for (let i = 0; i < reqs.length; i++) if (busy[i]) this.#reset(reqs[i].seq);
      throw new Error(`the draft model's llama_decode returned ${rc}`);
    }
  }

  /** The greedy token at output `index`, or -1 when it is below minP or not the target's. */
  #pick(index: number): number {
    const p = this.#lib.llama.llama_get_logits_ith(this.ctx.ptr, index);
    if (p === null) return -1;
    const logits = new Float32Array(Deno.UnsafePointerView.getArrayBuffer(p, this.#nVocab * 4));
    let best = 0;
    let max = logits[0];
    for (let t = 1; t < logits.length; t++) {
      if (logits[t] > max) {
        max = logits[t];
        best = t;
      }
    }
    if (best >= this.#targetVocab) return -1;
    if (this.minP > 0) {
      // p(best) = 1 / Σ exp(l − max); stop summing once it is already below minP.
      const limit = 1 / this.minP;
      let sum = 0;
      for (let t = 0; t < logits.length && sum <= limit; t++) sum += Math.exp(logits[t] - max);
      if (sum > limit) return -1;
    }
    return best;
  }

  free(): void {
    this.ctx.free();
  }
}

function commonPrefix(a: number[], b: ArrayLike<number>): number {
  const n = Math.min(a.length, b.length);
  let i = 0;
  while (i < n && a[i] === b[i]) i++;
  return i;
}
