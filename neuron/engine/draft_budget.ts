/**
 * How many tokens a sequence drafts next. A verified draft costs a wider decode (and, with a
 * draft model, its own decodes) whether or not it is accepted, so drafting follows what it
 * earns. It starts short (START tokens) and doubles with every fully accepted draft up to
 * the maximum, so a draft that is never right costs a few short attempts, not a long one;
 * a partly accepted draft shrinks to what was accepted plus one; a draft with nothing
 * accepted drops to one token and pauses drafting for a number of steps that doubles with
 * each such miss in a row (up to MAX_PAUSE). Where nothing is ever accepted that is a
 * handful of one-token attempts over hundreds of tokens.
 */

/** First draft length: short, until drafts prove right. */
export const START = 2;
/** Longest pause, in steps, after misses in a row. */
export const MAX_PAUSE = 64;

export class DraftBudget {
  readonly max: number;
  #k: number;
  #pause = 0;
  #misses = 0;

  constructor(max: number) {
    this.max = Math.max(0, Math.floor(max));
    this.#k = Math.min(START, this.max);
  }

  /** Tokens to draft this step (0: do not draft now). Call once per step. */
  next(): number {
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
