/**
 * How many tokens a sequence drafts next. A verified draft costs a wider decode (and, with a
 * draft model, its own decodes) whether or not it is accepted, so drafting follows what it
 * earns: fully accepted drafts grow back to the maximum, partly accepted ones shrink to what
 * was accepted plus one, and a draft with nothing accepted pauses drafting for a number of
 * steps that doubles with each such miss in a row (up to MAX_PAUSE). Where nothing is ever
 * accepted that is a handful of attempts over hundreds of tokens.
 */

/** Longest pause, in steps, after misses in a row. */
export const MAX_PAUSE = 64;

export class DraftBudget {
  readonly max: number;
  #k: number;
  #pause = 0;
  #misses = 0;

  constructor(max: number) {
    this.max = Math.max(0, Math.floor(max));
    this.#k = this.max;
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
      this.#k = Math.max(1, this.#k >> 1);
      return;
    }
    this.#misses = 0;
    this.#k = accepted >= drafted
      ? Math.min(this.max, Math.max(this.#k, drafted) * 2)
      : Math.min(this.max, accepted + 1);
  }
}
