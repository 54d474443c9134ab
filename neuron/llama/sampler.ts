/** Per-request sampler chains. */

import type { LlamaLibrary } from "./library.ts";
import type { Vocab } from "./vocab.ts";

export interface SamplingParams {
  /** 0 = greedy. */
  temperature: number;
  topK?: number;
  topP?: number;
  minP?: number;
  /** Omitted = a fresh random seed. */
  seed?: number;
  repeatPenalty?: number;
  presencePenalty?: number;
  frequencyPenalty?: number;
  /** How many recent tokens the penalties look at. */
  penaltyLastN?: number;
  /** token id → additive bias. */
  logitBias?: Record<number, number>;
  /** GBNF grammar constraining the output (root rule `root`). */
  grammar?: string;
  /**
   * Lazy grammar: free output until one of these tokens is sampled, then the
   * grammar (which must start by matching that token's text) applies.
   */
  grammarTriggerTokens?: number[];
}

export class GrammarError extends Error {
  override name = "GrammarError";
}

const LLAMA_DEFAULT_SEED = 0xFFFFFFFF;

export class SamplerChain {
  readonly ptr: Deno.PointerValue;
  #lib: LlamaLibrary;
  #freed = false;

  constructor(lib: LlamaLibrary, vocab: Vocab, p: SamplingParams) {
    this.#lib = lib;
    const l = lib.llama;
    const chain = l.llama_sampler_chain_init(l.llama_sampler_chain_default_params());
    const add = (s: Deno.PointerValue) => l.llama_sampler_chain_add(chain, s);
    try {
      const bias = Object.entries(p.logitBias ?? {});
      if (bias.length) {
        // struct llama_logit_bias { int32 token; float bias; }
        const buf = new DataView(new ArrayBuffer(bias.length * 8));
        bias.forEach(([tok, b], i) => {
          buf.setInt32(i * 8, Number(tok), true);
          buf.setFloat32(i * 8 + 4, b <= -100 ? -Infinity : b, true);
        });
        add(l.llama_sampler_init_logit_bias(
          vocab.nTokens,
          bias.length,
          new Uint8Array(buf.buffer),
        ));
      }
      const repeat = p.repeatPenalty ?? 1;
      const presence = p.presencePenalty ?? 0;
      const frequency = p.frequencyPenalty ?? 0;
      if (repeat !== 1 || presence !== 0 || frequency !== 0) {
        add(l.llama_sampler_init_penalties(
          vocab.nTokens,
          p.penaltyLastN ?? 64,
          repeat,
          frequency,
          presence,
        ));
      }
      if (p.grammar !== undefined) {
        const gbnf = new TextEncoder().encode(p.grammar + "\0");
        const root = new TextEncoder().encode("root\0");
        const triggers = p.grammarTriggerTokens ?? [];
        const g = triggers.length
          ? l.llama_sampler_init_grammar_lazy_patterns(
            vocab.ptr,
            gbnf,
            root,
            null,
            0n,
            new Uint8Array(Int32Array.from(triggers).buffer),
            BigInt(triggers.length),
          )
          : l.llama_sampler_init_grammar(vocab.ptr, gbnf, root);
        if (g === null) throw new GrammarError("llama.cpp rejected the grammar");
        add(g);
      }
      if (p.temperature <= 0) {
        add(l.llama_sampler_init_greedy());
      } else {
        if (p.topK !== undefined && p.topK > 0) add(l.llama_sampler_init_top_k(p.topK));
        if (p.topP !== undefined && p.topP < 1) add(l.llama_sampler_init_top_p(p.topP, 1n));
        if (p.minP !== undefined && p.minP > 0) add(l.llama_sampler_init_min_p(p.minP, 1n));
        add(l.llama_sampler_init_temp(p.temperature));
        add(l.llama_sampler_init_dist(p.seed === undefined ? LLAMA_DEFAULT_SEED : p.seed >>> 0));
      }
    } catch (e) {
      l.llama_sampler_free(chain);
      throw e;
    }
    this.ptr = chain;
  }

  /** Samples from output `index` of the last decode and accepts the token. */
  sample(ctx: Deno.PointerValue, index: number): number {
    return this.#lib.llama.llama_sampler_sample(this.ptr, ctx, index);
  }

  free(): void {
    if (this.#freed) return;
    this.#freed = true;
    this.#lib.llama.llama_sampler_free(this.ptr);
  }
}
