/**
 * Pooled sentence embeddings on a dedicated context, one input at a time,
 * L2-normalised like OpenAI's. Jobs are serialised; generation on the same
 * model keeps running on its own context.
 */

import { Batch } from "../llama/batch.ts";
import { DECODE_OK, LlamaContext } from "../llama/context.ts";
import type { LlamaLibrary } from "../llama/library.ts";
import type { LlamaModel } from "../llama/model.ts";
import { checkTokens, EngineError } from "./types.ts";
import { withRpcLock } from "./rpc_lock.ts";
import { workerState } from "./worker_state.ts";

export interface EmbeddingResult {
  vectors: number[][];
  promptTokens: number;
}

export class Embedder {
  #model: LlamaModel;
  #ctx: LlamaContext;
  #batch: Batch;
  #chain: Promise<unknown> = Promise.resolve();
  /** Split over an RPC device: wait for results and free off this thread (see SplitLoad). */
  readonly #offThread: boolean;

  private constructor(model: LlamaModel, ctx: LlamaContext, offThread: boolean) {
    this.#model = model;
    this.#ctx = ctx;
    this.#batch = new Batch(ctx.nBatch);
    this.#offThread = offThread;
  }

  static async create(
    lib: LlamaLibrary,
    model: LlamaModel,
    opts: { context: number; nThreads: number; offThread?: boolean },
  ): Promise<Embedder> {
    const ctx = await LlamaContext.create(lib, model, {
      nCtx: opts.context,
      nBatch: opts.context,
      nSeqMax: 1,
      nThreads: opts.nThreads,
      embeddings: true,
    });
    return new Embedder(model, ctx, opts.offThread ?? false);
  }

  embed(inputs: (string | number[])[]): Promise<EmbeddingResult> {
    const job = this.#chain.then(() => this.#run(inputs));
    this.#chain = job.catch(() => {});
    return job;
  }

  async #run(inputs: (string | number[])[]): Promise<EmbeddingResult> {
    const vectors: number[][] = [];
    let promptTokens = 0;
    const nEmbd = this.#model.info.nEmbd;
    for (const [i, input] of inputs.entries()) {
      // Ids are checked before Int32Array.from (which wraps them): llama_decode fails on one
      // outside the vocabulary, and that is the request's fault, not the server's.
      if (typeof input !== "string") checkTokens(input, this.#model.vocab.nTokens, `input[${i}]`);
      const tokens = typeof input === "string"
        ? this.#model.vocab.tokenize(input, { addSpecial: true, special: false })
        : Int32Array.from(input);
      if (tokens.length === 0) throw new EngineError("bad_request", `input[${i}] is empty`);
      if (tokens.length > this.#batch.capacity) {
        throw new EngineError(
          "context_exceeded",
          `input[${i}] has ${tokens.length} tokens; the embedding context is ${this.#batch.capacity}`,
          { tokens: tokens.length, max: this.#batch.capacity },
        );
      }
      promptTokens += tokens.length;
      // Cells only (no write to the devices' buffers, which for an RPC device is a network call
      // on this thread that never returns once the server is lost).
      this.#ctx.truncate(0, -1);
      this.#batch.clear();
      tokens.forEach((t, pos) => this.#batch.add(t, pos, 0, true));
      const rc = this.#offThread
        ? await withRpcLock(workerState.rpcLock, () => this.#ctx.decode(this.#batch))
        : await this.#ctx.decode(this.#batch);
      if (rc !== DECODE_OK) {
        throw new EngineError("decode_failed", `embedding decode returned ${rc}`);
      }
      // Reading the result waits for the devices: for an RPC device (which computes on past
      // llama_decode's return), wait off-thread so a lost server parks no worker.
      if (this.#offThread) await this.#ctx.synchronize();
      const v = this.#ctx.sequenceEmbedding(0, nEmbd);
      let norm = 0;
      for (const x of v) norm += x * x;
      norm = Math.sqrt(norm) || 1;
      vectors.push(Array.from(v, (x) => x / norm));
    }
    return { vectors, promptTokens };
  }

  async close(): Promise<void> {
    await this.#chain;
    if (this.#offThread) await this.#ctx.freeOffThread();
    else this.#ctx.free();
  }
}
