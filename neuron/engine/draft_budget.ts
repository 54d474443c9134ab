/**
 * How many tokens a sequence drafts next. A verified draft costs a wider decode (and, with a
 * draft model, its own decodes) whether or not it is accepted, so drafting follows what it
 * earns. It starts short (START tokens) and doubles with every fully accepted draft up to
 * the maximum, so a draft that is never right costs a few short attempts, not a long one;
 * a partly accepted draft shrinks to what was accepted plus one; a draft with nothing
 * accepted drops to one token and pauses drafting for a number of steps that doubles with
 * each such miss in a row (up to MAX_PAUSE). Where nothing is ever accepted that is a
 * handful of one-token attempts over hundreds of tokens.
 *
 * A draft model also has to read every token of the sequence to stay in step with it, which
 * costs its share of a prefill even while paused; so a budget may give up for the rest of
 * the request after `giveUpAfter` misses in a row (a useful draft missing six single tokens
 * in a row, over some 130 steps, is improbable: at 70% acceptance, 0.07%).
 */

/** First draft length: short, until drafts prove right. */
export const START = 2;
/** Longest pause, in steps, after misses in a row. */
export const MAX_PAUSE = 64;
/** Misses in a row after which a draft model stops drafting for the request. */
export const DRAFT_MODEL_GIVE_UP = 6;

export class DraftBudget {
  readonly max: number;
  #k: number;
  #pause = 0;
  #misses = 0;
  readonly #giveUpAfter: number;

  constructor(max: number, opts: { giveUpAfter?: number } = {}) {
    this.max = Math.max(0, Math.floor(max));
    this.#k = Math.min(START, this.max);
    this.#giveUpAfter = opts.giveUpAfter ?? Infinity;
  }

  /** True once drafting stopped for good (misses in a row reached `giveUpAfter`). */
  get exhausted(): boolean {
    return this.#misses >= this.#giveUpAfter;
  }

  /** Tokens to draft this step (0: do not draft now). Call once per step. */
  next(): number {
    if (this.exhausted) return 0;
    if (this.#pause > 0) {
      this.#pause--;
      return 0;
    }
    return this.#k;
  }

  /** What the last draft earned. A draft of 0 tokens (no n-gram matched) changes nothing. */
  record(drafted: number, accepted: number): void {
    if (drafted <= 0) return;
    if (accepted === 0) {
      this.#misses++;
      this.#pause = Math.min(MAX_PAUSE, 2 ** this.#misses);
      this.#k = Math.min(1, this.max);
      return;
    }
    this.#misses = 0;
    this.#k = accepted >= drafted
      ? Math.min(this.max, Math.max(this.#k, drafted) * 2)
      : Math.min(this.max, accepted + 1);
  }
}
