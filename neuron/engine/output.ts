/**
 * Turns one request's sampled tokens into typed text deltas: reasoning vs
 * content routed by marker token, UTF-8 safe, stop strings held back.
 */

import type { MarkerPair } from "./reasoning.ts";
import { StopMatcher } from "./stop_matcher.ts";
import { IncrementalDecoder } from "./text_decoder.ts";

export type DeltaKind = "content" | "reasoning";
export interface Delta {
  kind: DeltaKind;
  text: string;
}

export class OutputPipeline {
  #piece: (token: number) => Uint8Array;
  #markers: MarkerPair | null;
  #decoder = new IncrementalDecoder();
  #stops: StopMatcher;
  #reasoning: boolean;
  #out: Delta[] = [];
  /** Tokens sampled while reasoning (markers included). */
  reasoningTokens = 0;

  constructor(opts: {
    piece: (token: number) => Uint8Array;
    markers: MarkerPair | null;
    startInReasoning: boolean;
    stop: readonly string[];
  }) {
    this.#piece = opts.piece;
    this.#markers = opts.markers;
    this.#reasoning = opts.startInReasoning;
    this.#stops = new StopMatcher(opts.stop);
  }

  get inReasoning(): boolean {
    return this.#reasoning;
  }

  /**
   * Feeds one sampled token. Returns the stop string when one completed
   * (the caller ends generation); deltas accumulate until `take()`.
   */
  push(token: number): string | undefined {
    const m = this.#markers;
    if (m && token === m.openToken) {
      this.reasoningTokens++;
      this.#switch(true);
      return undefined;
    }
    if (m && token === m.closeToken) {
      this.reasoningTokens++;
      this.#switch(false);
      return undefined;
    }
    if (this.#reasoning) this.reasoningTokens++;
    return this.#text(this.#decoder.push(this.#piece(token)));
  }

  /** Ends generation: flushes partial characters and held-back text. */
  finish(): void {
    this.#text(this.#decoder.flush());
    if (!this.#reasoning) this.#emit("content", this.#stops.flush());
  }

  /** Deltas produced since the last call. */
  take(): Delta[] {
    const out = this.#out;
    this.#out = [];
    return out;
  }

  #switch(reasoning: boolean): void {
    if (reasoning === this.#reasoning) return;
    this.#text(this.#decoder.flush());
    if (!this.#reasoning) this.#emit("content", this.#stops.flush());
    this.#reasoning = reasoning;
  }

  #text(text: string): string | undefined {
    if (!text) return undefined;
    // Stop strings apply to the answer, not to the model's reasoning.
    if (this.#reasoning) {
      this.#emit("reasoning", text);
      return undefined;
    }
    const r = this.#stops.push(text);
    this.#emit("content", r.emit);
    return r.stop;
  }

  #emit(kind: DeltaKind, text: string): void {
    if (!text) return;
    const last = this.#out[this.#out.length - 1];
    if (last && last.kind === kind) last.text += text;
    else this.#out.push({ kind, text });
  }
}
