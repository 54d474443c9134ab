/**
 * Continuous batching over one context with N slots (sequences).
 *
 * Each step is one nonblocking `llama_decode` holding one token for every
 * generating slot plus prompt chunks of slots still prefilling, up to
 * n_batch tokens. New requests take the idle slot whose KV cache shares the
 * longest token prefix with their prompt and prefill only the rest.
 *
 * Speculation: a speculating sequence puts its last token and the tokens drafted after it
 * (prompt lookup or a draft model) in the same step, with logits on all of them, and samples
 * each position with its own sampler chain while the sample equals the draft. So every
 * token is the one plain decoding would have sampled from the same logits with the same
 * chain state, at any temperature; rejected positions leave the KV cache again.
 */

import { Batch } from "../llama/batch.ts";
import { DECODE_ABORTED, DECODE_OK, type LlamaContext } from "../llama/context.ts";
import { createLogger } from "../../core/log.ts";
import type { LlamaLibrary } from "../llama/library.ts";
import type { LlamaModel } from "../llama/model.ts";
import { GrammarError, SamplerChain } from "../llama/sampler.ts";
import { OutputPipeline } from "./output.ts";
import { DRAFT_MODEL_GIVE_UP, DraftBudget } from "./draft_budget.ts";
import type { DraftModel, DraftRequest } from "./draft_model.ts";
import { lookupDraft } from "./ngram_lookup.ts";
import { messagesWaiting, workerState } from "./worker_state.ts";
import { TaskYielder } from "./yield_task.ts";
import { withRpcLock } from "./rpc_lock.ts";
import { type MarkerPair, promptOpensReasoning } from "./reasoning.ts";
import {
  checkTokens,
  EngineError,
  type EngineEvent,
  type FinishReason,
  type GenerateParams,
  type ModelStats,
  type SpeculativeMode,
} from "./types.ts";

export type Emit = (rid: string, ev: EngineEvent) => void;

/**
 * Steps this small decode on the worker's own thread: handing a short decode
 * to a helper thread and back costs more than it runs when CPUs are busy
 * (13 vs 8.5 ms/token in the engine bench under load). Prompt chunks stay
 * off-thread, where a cancel can abort them mid-decode.
 */
export const SYNC_DECODE_MAX_TOKENS = 64;
/** Steps between task yields when no message is waiting (each yield costs ~0.2 ms). */
const YIELD_EVERY = 16;

interface Active {
  rid: string;
  prompt: Int32Array;
  /** Next prompt index to feed. */
  fed: number;
  maxTokens: number;
  chain: SamplerChain;
  /** Samples while the output is reasoning (answer-only grammars), else null. */
  reasoningChain: SamplerChain | null;
  /** GenerateParams.reasoningBudget, when the model has reasoning markers. */
  reasoningBudget: number | undefined;
  output: OutputPipeline;
  generated: number;
  lastToken: number;
  /** Batch index of this slot's output in the current step, -1 if none. */
  outIndex: number;
  cancelled: boolean;
  cachedTokens: number;
  submittedAt: number;
  startedAt: number;
  firstTokenAt: number;
  /** How this request drafts: "off", or prompt lookup, or the draft model. */
  speculative: SpeculativeMode;
  /** Draft length to try next (null when not speculating). */
  budget: DraftBudget | null;
  /** Tokens drafted after `lastToken` for the current step. */
  draft: number[];
  drafted: number;
  accepted: number;
}

interface Slot {
  seq: number;
  /** Tokens whose KV this sequence holds, in position order. */
  cache: number[];
  lastUsed: number;
  req: Active | null;
  /** cache.length before the current step, to undo a failed decode. */
  before: number;
}

interface Pending {
  rid: string;
  params: GenerateParams;
  prompt: Int32Array;
  /** Built at submit so a bad grammar is refused before the request queues. */
  chain: SamplerChain;
  reasoningChain: SamplerChain | null;
  speculative: SpeculativeMode;
  submittedAt: number;
}

export interface SchedulerOptions {
  slots: number;
  /** Context tokens per slot: prompt + generation must fit. */
  contextPerSlot: number;
  maxQueue: number;
  markers: MarkerPair | null;
  /** How requests that do not say speculate. */
  speculative: SpeculativeMode;
  /** Most tokens drafted per sequence per step. */
  draftMax: number;
  /** The draft model, when the profile names one. */
  draft: DraftModel | null;
  /** Never decode on the worker's own thread (a split over an RPC device: see SplitLoad). */
  offThread?: boolean;
}

const NO_DRAFT: number[] = [];

export class Scheduler {
  readonly #lib: LlamaLibrary;
  readonly #model: LlamaModel;
  readonly #ctx: LlamaContext;
  readonly #opts: SchedulerOptions;
  readonly #emit: Emit;
  readonly #flush: () => void;
  readonly #batch: Batch;
  readonly #slots: Slot[];
  readonly #queue: Pending[] = [];
  readonly #byRid = new Map<string, Pending | Active>();
  #wake: (() => void) | null = null;
  readonly #yielder = new TaskYielder();
  #syncSteps = 0;
  #closed = false;
  /** Counted in workerState.busyLoops. */
  #busy = false;
  #abandoned = false;
  #loop: Promise<void>;
  #inFlight: Slot[] = [];
  #clock = 0;
  #log = createLogger("scheduler");
  readonly counters = {
    promptTokensProcessed: 0,
    promptTokensCached: 0,
    generatedTokens: 0,
    requestsCompleted: 0,
    decodeSteps: 0,
    /** Tokens proposed by drafting and verified by the target. */
    draftedTokens: 0,
    /** Of those, tokens the target sampled the same (so emitted without a step of their own). */
    acceptedTokens: 0,
  };

  constructor(
    lib: LlamaLibrary,
    model: LlamaModel,
    ctx: LlamaContext,
    opts: SchedulerOptions,
    emit: Emit,
    flush: () => void,
  ) {
    this.#lib = lib;
    this.#model = model;
    this.#ctx = ctx;
    this.#opts = opts;
    this.#emit = emit;
    this.#flush = flush;
    this.#batch = new Batch(ctx.nBatch);
    this.#slots = Array.from({ length: opts.slots }, (_, seq) => ({
      seq,
      cache: [],
      lastUsed: 0,
      req: null,
      before: 0,
    }));
    this.#loop = this.#run();
  }

  /** Validates and queues a request; events follow through `emit`. */
  submit(rid: string, params: GenerateParams): void {
    if (this.#closed) throw new EngineError("not_loaded", "model is unloading");
    const queued = this.#queue.length;
    const free = this.#slots.some((s) => s.req === null);
    if (!free && queued >= this.#opts.maxQueue) {
      throw new EngineError(
        "queue_full",
        `all ${this.#opts.slots} slots busy and ${queued} requests queued (max_queue ${this.#opts.maxQueue})`,
      );
    }
    const vocab = this.#model.vocab;
    // Ids are checked before Int32Array.from, which would wrap 2**32 + 1 to token 1.
    if (typeof params.prompt !== "string") checkTokens(params.prompt, vocab.nTokens, "prompt");
    checkTokens(
      Object.keys(params.sampling.logitBias ?? {}).map(Number),
      vocab.nTokens,
      "logit_bias",
    );
    const prompt = typeof params.prompt === "string"
      ? vocab.tokenize(params.prompt, { addSpecial: params.addSpecial ?? false, special: true })
      : Int32Array.from(params.prompt);
    if (prompt.length === 0) throw new EngineError("bad_request", "prompt is empty");
    if (prompt.length >= this.#opts.contextPerSlot) {
      throw new EngineError(
        "context_exceeded",
        `prompt has ${prompt.length} tokens; the context per request is ${this.#opts.contextPerSlot}`,
        { tokens: prompt.length, max: this.#opts.contextPerSlot },
      );
    }
    const speculative = params.speculative ?? this.#opts.speculative;
    if (speculative === "draft" && !this.#opts.draft) {
      throw new EngineError(
        "bad_request",
        'speculative: this model was loaded without a draft model (use "ngram" or "off")',
      );
    }
    let chains: { chain: SamplerChain; reasoningChain: SamplerChain | null };
    try {
      chains = this.#samplers(params, prompt);
    } catch (e) {
      if (e instanceof GrammarError) throw new EngineError("grammar", e.message);
      throw e;
    }
    const p: Pending = {
      rid,
      params,
      prompt,
      ...chains,
      speculative,
      submittedAt: performance.now(),
    };
    this.#queue.push(p);
    this.#byRid.set(rid, p);
    this.#emit(rid, { type: "queued", position: this.#queue.length - (free ? 1 : 0) });
    this.#flush();
    this.#wake?.();
  }

  /**
   * The request's sampler chains. An answer grammar never gets tokens the output would not
   * show as the text the grammar matched them by (hidden control tokens, reasoning
   * markers). A prompt that opens reasoning then gets a second chain for the reasoning:
   * free, except that it cannot end generation (no EOG), so the answer the grammar forces
   * always comes after the close marker. No grammar there: it would cost a pass over the
   * vocabulary per reasoning token.
   */
  #samplers(params: GenerateParams, prompt: Int32Array) {
    const vocab = this.#model.vocab;
    if (params.grammarTrigger !== undefined && params.sampling.grammar !== undefined) {
      const t = vocab.singleToken(params.grammarTrigger);
      const sampling = t === undefined
        ? { ...params.sampling, grammar: undefined }
        : { ...params.sampling, grammarTriggerTokens: [t] };
      return { chain: new SamplerChain(this.#lib, vocab, sampling), reasoningChain: null };
    }
    const s = params.sampling;
    if (!params.answerGrammar || s.grammar === undefined) {
      return { chain: new SamplerChain(this.#lib, vocab, s), reasoningChain: null };
    }
    const m = this.#opts.markers;
    const ban = (tokens: readonly number[]) => ({
      ...s.logitBias,
      ...Object.fromEntries(tokens.map((t) => [t, -Infinity])),
    });
    const chain = new SamplerChain(this.#lib, vocab, {
      ...s,
      logitBias: ban([...vocab.hiddenTokens(), ...(m ? [m.openToken, m.closeToken] : [])]),
    });
    if (!m || !promptOpensReasoning(prompt, m)) return { chain, reasoningChain: null };
    try {
      const reasoningChain = new SamplerChain(this.#lib, vocab, {
        ...s,
        grammar: undefined,
        logitBias: ban([...vocab.eogTokens(), m.openToken]),
      });
      return { chain, reasoningChain };
    } catch (e) {
      chain.free();
      throw e;
    }
  }

  /** Cancels a queued or running request; its slot is free by the next step. */
  cancel(rid: string): void {
    const r = this.#byRid.get(rid);
    if (!r) return;
    if ("fed" in r) {
      r.cancelled = true;
      // If the decode in flight serves only cancelled requests, cut it short.
      if (this.#inFlight.length && this.#inFlight.every((s) => s.req?.cancelled)) {
        this.#ctx.abort.raise();
      }
    } else {
      this.#queue.splice(this.#queue.indexOf(r), 1);
      this.#byRid.delete(rid);
      r.chain.free();
      r.reasoningChain?.free();
      this.#emit(rid, {
        type: "done",
        finishReason: "cancelled",
        usage: {
          promptTokens: r.prompt.length,
          cachedTokens: 0,
          completionTokens: 0,
          reasoningTokens: 0,
          draftedTokens: 0,
          acceptedTokens: 0,
        },
        timings: { queuedMs: performance.now() - r.submittedAt, ttftMs: 0, totalMs: 0 },
      });
      this.#flush();
    }
  }

  stats(key: string): ModelStats {
    let kv = 0;
    for (const s of this.#slots) kv += s.cache.length;
    return {
      key,
      slots: this.#slots.length,
      active: this.#slots.filter((s) => s.req !== null).length,
      queued: this.#queue.length,
      kvUsedCells: kv,
      kvTotalCells: this.#ctx.nCtx,
      ...this.counters,
    };
  }

  get busy(): boolean {
    return this.#queue.length > 0 || this.#slots.some((s) => s.req !== null);
  }

  /** Stops the loop, cancelling everything in flight, and waits for it. */
  async close(): Promise<void> {
    this.#closed = true;
    for (const p of [...this.#queue]) this.cancel(p.rid);
    for (const s of this.#slots) if (s.req) s.req.cancelled = true;
    if (this.#inFlight.length) this.#ctx.abort.raise();
    this.#wake?.();
    await this.#loop;
  }

  /**
   * Its RPC server is gone and the loop is parked for good in a call into it: it stops counting
   * as busy, or the worker's other models would never decode on-thread again.
   */
  abandon(): void {
    this.#setBusy(false);
    this.#abandoned = true;
  }

  #setBusy(b: boolean): void {
    if (this.#abandoned || b === this.#busy) return;
    workerState.busyLoops += b ? 1 : -1;
    this.#busy = b;
  }

  async #run(): Promise<void> {
    const setBusy = (b: boolean) => this.#setBusy(b);
    try {
      while (await this.#step(setBusy));
    } finally {
      setBusy(false);
      this.#yielder.close();
    }
  }

  /** One scheduling step; false when the loop should end. */
  async #step(setBusy: (b: boolean) => void): Promise<boolean> {
    this.#admit();
    this.#reapCancelled();
    if (this.#closed && !this.#slots.some((s) => s.req)) return false;
    if (!this.#slots.some((s) => s.req)) {
      setBusy(false);
      await new Promise<void>((resolve) => this.#wake = resolve);
      this.#wake = null;
      return true;
    }
    setBusy(true);
    await this.#draftAll();
    this.#buildBatch();
    if (this.#batch.size === 0) return true;
    this.#ctx.abort.reset();
    let rc: number;
    let thrown = "";
    try {
      rc = await this.#decode(this.#ctx, this.#batch);
    } catch (e) {
      rc = -1;
      thrown = (e as Error).message;
    }
    this.counters.decodeSteps++;
    const inFlight = this.#inFlight;
    this.#inFlight = [];
    if (rc === DECODE_OK) {
      this.#sampleAll(inFlight);
    } else {
      this.#undo(inFlight);
      if (rc === DECODE_ABORTED) {
        for (const s of inFlight) if (s.req) this.#finish(s, "cancelled");
      } else {
        this.#fail(inFlight, thrown || `llama_decode returned ${rc}`);
      }
    }
    this.#flush();
    return true;
  }

  /**
   * One decode: small ones on this thread when this is the worker's only busy model and no
   * load runs (see SYNC_DECODE_MAX_TOKENS), others off-thread; always off-thread for a model
   * split over an RPC device (a lost server parks the call for good).
   */
  #decode = async (ctx: LlamaContext, batch: Batch): Promise<number> => {
    if (this.#opts.offThread) {
      // One decode over RPC devices at a time, process-wide (see rpc_lock.ts).
      const rc = await withRpcLock(workerState.rpcLock, () => ctx.decode(batch));
      // An RPC device computes on past llama_decode's return, and sampling would wait for it
      // on this thread: wait here, off-thread, so a lost server parks no worker.
      if (rc === DECODE_OK) await ctx.synchronize();
      return rc;
    }
    if (batch.size > SYNC_DECODE_MAX_TOKENS || workerState.busyLoops > 1 || workerState.loads) {
      return await ctx.decode(batch);
    }
    const rc = ctx.decodeSync(batch);
    // Messages waiting (a cancel, a new request): real event-loop turns deliver them, all
    // of them before the next step (one turn may bring only some of several sent at once).
    // Otherwise a cheap task yield now and then keeps other work (embeddings) moving.
    if (messagesWaiting()) {
      while (messagesWaiting()) await this.#lib.llama.llama_time_us_async();
    } else if (++this.#syncSteps % YIELD_EVERY === 0) await this.#yielder.next();
    return rc;
  };

  /**
   * Drafts this step's tokens for every generating sequence that speculates. Drafts take only
   * the batch room prompts waiting to prefill do not need, and never run past the request's
   * token budget or the slot's context. The sequences drafting in a step share `draftMax`
   * drafted tokens: a step decoding many sequences is already a wide batch, where a verified
   * token costs nearly its full price (on CPU, and on a GPU once compute-bound) and a
   * rejected one is pure loss, so speculation thins out as concurrency grows, as vLLM's
   * disable-by-batch-size does abruptly.
   */
  async #draftAll(): Promise<void> {
    const generating: Slot[] = [];
    let prefill = 0;
    for (const s of this.#slots) {
      const r = s.req;
      if (!r) continue;
      r.draft = NO_DRAFT;
      if (r.fed < r.prompt.length) prefill += r.prompt.length - r.fed;
      else generating.push(s);
    }
    let room = this.#batch.capacity - generating.length - prefill;
    // What each speculating sequence would draft (its budget's next() counts a pause down,
    // once a step), then the share of draftMax among those that draft this step.
    const wanted: { slot: Slot; k: number }[] = [];
    for (const s of generating) {
      const r = s.req!;
      if (!r.budget || r.cancelled) continue;
      const k = Math.min(
        r.budget.next(),
        r.maxTokens - r.generated - 1,
        this.#opts.contextPerSlot - 1 - s.cache.length,
      );
      if (k > 0) wanted.push({ slot: s, k });
    }
    const share = Math.max(1, Math.floor(this.#opts.draftMax / wanted.length));
    const viaModel: { slot: Slot; req: DraftRequest }[] = [];
    for (const { slot: s, k: want } of wanted) {
      const r = s.req!;
      const k = Math.min(want, share, room);
      if (k <= 0) break;
      // The history drafts continue: the slot's cache and the token about to be decoded.
      const history = [...s.cache, r.lastToken];
      if (r.speculative === "ngram") {
        r.draft = lookupDraft(history, k);
        room -= r.draft.length;
      } else {
        viaModel.push({ slot: s, req: { seq: s.seq, history, max: k } });
        room -= k;
      }
    }
    if (!viaModel.length) return;
    try {
      const drafts = await this.#opts.draft!.draft(viaModel.map((x) => x.req), this.#decode);
      viaModel.forEach((x, i) => x.slot.req && (x.slot.req.draft = drafts[i]));
    } catch (e) {
      // The target goes on without drafts this step.
      this.#log.warn("drafting failed", { error: (e as Error).message });
    }
  }

  /**
   * Moves queued requests into free slots. A slot is worth what it saves minus what it
   * throws away: reused prefix − discarded cache (2n − cached). So an agent's next turn
   * finds its slot, a short unrelated request takes an empty (or the cheapest) slot instead
   * of truncating a 40k-token conversation it shares two template tokens with, and a
   * conversation sharing most of another's prefix still reuses it. Ties: least recently used.
   */
  #admit(): void {
    while (this.#queue.length) {
      const free = this.#slots.filter((s) => s.req === null);
      if (!free.length) return;
      const p = this.#queue.shift()!;
      let best = free[0];
      let bestLen = -1;
      let bestScore = -Infinity;
      for (const s of free) {
        const n = commonPrefix(s.cache, p.prompt);
        const score = 2 * n - s.cache.length;
        if (score > bestScore || (score === bestScore && s.lastUsed < best.lastUsed)) {
          best = s;
          bestLen = n;
          bestScore = score;
        }
      }
      // The last prompt token is always decoded again: its logits start generation.
      const keep = Math.min(bestLen, p.prompt.length - 1);
      this.#start(best, p, keep);
    }
  }

  #start(slot: Slot, p: Pending, keep: number): void {
    if (slot.cache.length > keep) {
      this.#ctx.truncate(slot.seq, keep);
      slot.cache.length = keep;
    }
    const markers = this.#opts.markers;
    const startInReasoning = promptOpensReasoning(p.prompt, markers);
    const req: Active = {
      rid: p.rid,
      prompt: p.prompt,
      fed: keep,
      maxTokens: p.params.maxTokens,
      chain: p.chain,
      reasoningChain: p.reasoningChain,
      reasoningBudget: markers ? p.params.reasoningBudget : undefined,
      output: new OutputPipeline({
        piece: (t) => this.#model.vocab.piece(t),
        markers,
        startInReasoning,
        stop: p.params.stop,
      }),
      generated: 0,
      lastToken: -1,
      outIndex: -1,
      cancelled: false,
      cachedTokens: keep,
      submittedAt: p.submittedAt,
      startedAt: performance.now(),
      firstTokenAt: 0,
      speculative: p.speculative,
      budget: p.speculative === "off" ? null : new DraftBudget(
        this.#opts.draftMax,
        // Prompt lookup costs nothing while idle; a draft model reads every token.
        p.speculative === "draft" ? DRAFT_MODEL_GIVE_UP : {},
      ),
      draft: NO_DRAFT,
      drafted: 0,
      accepted: 0,
    };
    slot.req = req;
    slot.lastUsed = ++this.#clock;
    this.#byRid.set(p.rid, req);
    this.counters.promptTokensCached += keep;
    this.#emit(p.rid, {
      type: "start",
      promptTokens: p.prompt.length,
      cachedTokens: keep,
      reasoning: startInReasoning,
    });
  }

  #reapCancelled(): void {
    for (const s of this.#slots) if (s.req?.cancelled) this.#finish(s, "cancelled");
  }

  #buildBatch(): void {
    const b = this.#batch;
    b.clear();
    const inFlight: Slot[] = [];
    // Generating slots first: one token each keeps every stream moving.
    for (const s of this.#slots) {
      const r = s.req;
      s.before = s.cache.length;
      if (!r) continue;
      r.outIndex = -1;
      if (r.fed < r.prompt.length) continue;
      r.outIndex = b.add(r.lastToken, s.cache.length, s.seq, true);
      s.cache.push(r.lastToken);
      // Drafted tokens follow at consecutive indices, each with logits to verify it by.
      for (const d of r.draft) {
        b.add(d, s.cache.length, s.seq, true);
        s.cache.push(d);
      }
      inFlight.push(s);
    }
    // Then prompt chunks, oldest request first, in whatever room is left.
    const prefilling = this.#slots.filter((s) => s.req && s.req.fed < s.req.prompt.length)
      .sort((a, b) => a.req!.startedAt - b.req!.startedAt);
    for (const s of prefilling) {
      const r = s.req!;
      const room = b.capacity - b.size;
      if (room <= 0) break;
      const take = Math.min(room, r.prompt.length - r.fed);
      for (let i = 0; i < take; i++) {
        const tok = r.prompt[r.fed + i];
        b.add(tok, s.cache.length, s.seq, false);
        s.cache.push(tok);
      }
      r.fed += take;
      this.counters.promptTokensProcessed += take;
      if (r.fed === r.prompt.length) r.outIndex = b.outputLast();
      inFlight.push(s);
    }
    this.#inFlight = inFlight;
  }

  #sampleAll(inFlight: Slot[]): void {
    for (const s of inFlight) {
      const r = s.req;
      if (!r || r.outIndex < 0) continue;
      if (r.cancelled) {
        this.#finish(s, "cancelled");
        continue;
      }
      this.#sampleSlot(s, r);
    }
  }

  /**
   * Samples a slot's output positions in order, each token through the same path as
   * without speculation (chain, EOG, output pipeline with stop strings, limits), moving on
   * to the next drafted position only while the sample equals the draft. The KV cells of
   * positions after the last sampled one are removed.
   */
  #sampleSlot(s: Slot, r: Active): void {
    const ctxPtr = this.#ctx.ptr;
    const vocab = this.#model.vocab;
    const draft = r.draft;
    // The cache holds every drafted token; `base + i` is what it would hold without them
    // after sampling position i (so limits and rollback read as in plain decoding).
    const base = s.cache.length - draft.length;
    let i = 0;
    let end: { reason: FinishReason; stop?: string } | null = null;
    for (;;) {
      const chain = r.reasoningChain && r.output.inReasoning ? r.reasoningChain : r.chain;
      let tok = chain.sample(ctxPtr, r.outIndex + i);
      // Reasoning over budget: the close marker instead, so the answer starts (a draft that
      // guessed otherwise is rejected here like any mismatch).
      const budget = r.reasoningBudget;
      if (
        budget !== undefined && r.output.inReasoning && r.output.reasoningTokens >= budget
      ) tok = this.#opts.markers!.closeToken;
      if (r.generated === 0) r.firstTokenAt = performance.now();
      r.generated++;
      this.counters.generatedTokens++;
      if (vocab.isEog(tok)) {
        end = { reason: "stop" };
      } else {
        const stop = r.output.push(tok);
        if (stop !== undefined) end = { reason: "stop", stop };
        else if (r.generated >= r.maxTokens || base + i >= this.#opts.contextPerSlot) {
          end = { reason: "length" };
        }
      }
      const matches = i < draft.length && tok === draft[i];
      if (end || !matches) {
        if (!end) r.lastToken = tok;
        if (draft.length) {
          const accepted = i + (matches ? 1 : 0);
          this.counters.draftedTokens += draft.length;
          this.counters.acceptedTokens += accepted;
          r.drafted += draft.length;
          r.accepted += accepted;
          r.budget!.record(draft.length, accepted);
        }
        break;
      }
      i++;
    }
    const keep = base + i;
    if (s.cache.length > keep) {
      this.#ctx.truncate(s.seq, keep);
      s.cache.length = keep;
    }
    const deltas = r.output.take();
    if (deltas.length) this.#emit(r.rid, { type: "delta", deltas });
    if (end) this.#finish(s, end.reason, end.stop);
  }

  #finish(s: Slot, reason: FinishReason, stop?: string): void {
    const r = s.req!;
    r.output.finish();
    const deltas = r.output.take();
    if (deltas.length && reason !== "cancelled") this.#emit(r.rid, { type: "delta", deltas });
    r.chain.free();
    r.reasoningChain?.free();
    s.req = null;
    s.lastUsed = ++this.#clock;
    this.#byRid.delete(r.rid);
    this.counters.requestsCompleted++;
    const now = performance.now();
    this.#emit(r.rid, {
      type: "done",
      finishReason: reason,
      stop,
      usage: {
        promptTokens: r.prompt.length,
        cachedTokens: r.cachedTokens,
        completionTokens: r.generated,
        reasoningTokens: r.output.reasoningTokens,
        draftedTokens: r.drafted,
        acceptedTokens: r.accepted,
      },
      timings: {
        queuedMs: r.startedAt - r.submittedAt,
        ttftMs: r.firstTokenAt ? r.firstTokenAt - r.submittedAt : 0,
        totalMs: now - r.submittedAt,
      },
    });
  }

  /** Restores the KV bookkeeping of a step whose decode did not complete. */
  #undo(inFlight: Slot[]): void {
    for (const s of inFlight) {
      this.#ctx.truncate(s.seq, s.before);
      s.cache.length = s.before;
    }
  }

  #fail(slots: Slot[], message: string): void {
    for (const s of slots) {
      const r = s.req;
      if (!r) continue;
      r.chain.free();
      r.reasoningChain?.free();
      s.req = null;
      this.#ctx.truncate(s.seq, -1);
      s.cache.length = 0;
      this.#byRid.delete(r.rid);
      this.#emit(r.rid, { type: "error", code: "decode_failed", message });
    }
  }
}

function commonPrefix(a: number[], b: Int32Array): number {
  const n = Math.min(a.length, b.length);
  let i = 0;
  while (i < n && a[i] === b[i]) i++;
  return i;
}
