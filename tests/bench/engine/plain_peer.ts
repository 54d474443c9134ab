/**
 * The floor the engine's overhead is measured from: a plain decode loop over the same
 * llama.cpp library, on the calling thread, with blocking `llama_decode`. No worker, no
 * scheduler, no detokenizing: prompts in n_batch chunks, then one batched decode per
 * step holding one token of every sequence still generating.
 */

import { Batch } from "../../../neuron/llama/batch.ts";
import { DECODE_OK, LlamaContext } from "../../../neuron/llama/context.ts";
import type { LlamaLibrary } from "../../../neuron/llama/library.ts";
import { LlamaModel } from "../../../neuron/llama/model.ts";
import { SamplerChain } from "../../../neuron/llama/sampler.ts";
import {
  type Peer,
  type PromptSource,
  type RoundFigures,
  type RoundPrompts,
  type Setup,
  type Shape,
  timed,
} from "./workload.ts";

/** llama_token_attr bit of ordinary (not control, byte or user-defined) tokens. */
const ATTR_NORMAL = 1 << 2;

interface Sequence {
  seq: number;
  prompt: number[];
  /** Prompt tokens already in a batch. */
  fed: number;
  /** Next KV position. */
  pos: number;
  last: number;
  generated: number;
  done: boolean;
  /** Batch index of this sequence's logits in the current step, -1 if none. */
  out: number;
  chain: SamplerChain;
}

export class PlainPeer implements Peer {
  readonly name = "plain loop";
  readonly model: LlamaModel;
  readonly ctx: LlamaContext;
  readonly #lib: LlamaLibrary;
  readonly #batch: Batch;

  private constructor(lib: LlamaLibrary, model: LlamaModel, ctx: LlamaContext) {
    this.#lib = lib;
    this.model = model;
    this.ctx = ctx;
    this.#batch = new Batch(ctx.nBatch);
  }

  static async start(lib: LlamaLibrary, setup: Setup): Promise<PlainPeer> {
    const model = await LlamaModel.load(lib, setup.modelPath, { devices: [] });
    try {
      const ctx = await LlamaContext.create(lib, model, {
        nCtx: setup.context * setup.slots,
        nBatch: setup.nBatch,
        nSeqMax: setup.slots,
        nThreads: setup.threads,
      });
      return new PlainPeer(lib, model, ctx);
    } catch (e) {
      model.free();
      throw e;
    }
  }

  /** Ordinary tokens of the vocabulary and its BOS, to draw benchmark prompts from. */
  promptSource(): PromptSource {
    const vocab = this.model.vocab;
    const pool: number[] = [];
    for (let t = 0; t < vocab.nTokens; t++) {
      if ((vocab.attr(t) & ATTR_NORMAL) && !vocab.isEog(t)) pool.push(t);
    }
    const bos = this.#lib.llama.llama_vocab_bos(vocab.ptr);
    return { pool, bos: vocab.addBos && bos >= 0 ? bos : null };
  }

  round(prompts: RoundPrompts, shape: Shape): Promise<RoundFigures> {
    // Each measurement starts from an empty cache, outside the timed part.
    const run = async (ps: number[][], maxTokens: number) => {
      this.ctx.clear();
      return await timed(() => Promise.resolve(this.generate(ps, maxTokens)));
    };
    return (async () => {
      const prompt = await run([prompts.long], 1);
      const single = await run([prompts.single], shape.genTokens);
      const concurrent = await run(prompts.concurrent, shape.concurrentTokens);
      // The prompt figure counts prompt tokens, not the one token generated.
      return { prompt: { ...prompt, tokens: prompts.long.length }, single, concurrent };
    })();
  }

  /** Tokens each prompt's greedy continuation runs to (≤ maxTokens), from an empty cache. */
  lengths(prompts: number[][], maxTokens: number): number[] {
    this.ctx.clear();
    const counts = prompts.map(() => 0);
    this.generate(prompts, maxTokens, (seq) => counts[seq]++);
    return counts;
  }

  /**
   * Greedy generation of up to `maxTokens` for each prompt, sequence i in KV sequence i;
   * returns the tokens generated in all. Stops a sequence early only at end-of-generation.
   */
  generate(
    prompts: number[][],
    maxTokens: number,
    onToken?: (seq: number, token: number) => void,
  ): number {
    if (prompts.length > this.ctx.nSeqMax) {
      throw new RangeError(`prompts: ${prompts.length} exceed the ${this.ctx.nSeqMax} sequences`);
    }
    const vocab = this.model.vocab;
    const b = this.#batch;
    const seqs: Sequence[] = prompts.map((prompt, seq) => ({
      seq,
      prompt,
      fed: 0,
      pos: 0,
      last: -1,
      generated: 0,
      done: false,
      out: -1,
      chain: new SamplerChain(this.#lib, vocab, { temperature: 0 }),
    }));
    let total = 0;
    try {
      while (seqs.some((s) => !s.done)) {
        b.clear();
        for (const s of seqs) {
          if (!s.done && s.fed === s.prompt.length) s.out = b.add(s.last, s.pos++, s.seq, true);
        }
        for (const s of seqs) {
          if (s.fed === s.prompt.length) continue;
          const take = Math.min(b.capacity - b.size, s.prompt.length - s.fed);
          for (let i = 0; i < take; i++) b.add(s.prompt[s.fed++], s.pos++, s.seq, false);
          if (s.fed === s.prompt.length) s.out = b.outputLast();
          if (b.size === b.capacity) break;
        }
        const rc = this.ctx.decodeSync(b);
        if (rc !== DECODE_OK) throw new Error(`llama_decode returned ${rc}`);
        for (const s of seqs) {
          if (s.out < 0) continue;
          const tok = s.chain.sample(this.ctx.ptr, s.out);
          s.out = -1;
          s.generated++;
          total++;
          onToken?.(s.seq, tok);
          if (vocab.isEog(tok) || s.generated >= maxTokens) s.done = true;
          else s.last = tok;
        }
      }
    } finally {
      for (const s of seqs) s.chain.free();
    }
    return total;
  }

  close(): Promise<void> {
    this.ctx.free();
    this.model.free();
    return Promise.resolve();
  }
}
