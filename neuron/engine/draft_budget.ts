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
 * the request after misses in a row: `giveUpAfter` of them once a draft token was accepted
 * in the request, `giveUpUnprovenAfter` (fewer) while none ever was. The unproven run is
 * the usual case of a useless draft and sets its cost: four probes, not six, are ~4% of a
 * 128-token answer instead of ~7% (bench, unrelated draft). A useful draft rarely loses its
 * turn: at 70% acceptance, 0.8% of requests miss their first four probes, and a proven draft
 * missing six single tokens in a row over some 130 steps is 0.07%.
 */

/** First draft length: short, until drafts prove right. */
export const START = 2;
/** Longest pause, in steps, after misses in a row. */
export const MAX_PAUSE = 64;
/**
 * Misses in a row after which a draft model stops drafting for the request: once a draft
 * token of it was accepted, and while none ever was.
 */
export const DRAFT_MODEL_GIVE_UP = { giveUpAfter: 6, giveUpUnprovenAfter: 4 } as const;

export class DraftBudget {
  readonly max: number;
  #k: number;
  #pause = 0;
  #misses = 0;
  #proven = false;
  readonly #giveUpAfter: number;
  readonly #giveUpUnprovenAfter: number;

  constructor(max: number, opts: { giveUpAfter?: number; giveUpUnprovenAfter?: number } = {}) {
    this.max = Math.max(0, Math.floor(max));
    this.#k = Math.min(START, this.max);
    this.#giveUpAfter = opts.giveUpAfter ?? Infinity;
    this.#giveUpUnprovenAfter = opts.giveUpUnprovenAfter ?? this.#giveUpAfter;
  }

  /** True once drafting stopped for good (too many misses in a row). */
  get exhausted(): boolean {
    return this.#misses >= (this.#proven ? this.#giveUpAfter : this.#giveUpUnprovenAfter);
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
    this.#proven = true;
    this.#k = accepted >= drafted
      ? Math.min(this.max, Math.max(this.#k, drafted) * 2)
      : Math.min(this.max, accepted + 1);
  }
}
