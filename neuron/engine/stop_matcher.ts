/**
 * Matches stop strings across token boundaries.
 *
 * Text that could be the start of a stop string is held back until the next
 * piece decides it, so a stop string never leaks into the output even when
 * the model emits it one character per token.
 */

export interface StopResult {
  /** Text safe to emit now. */
  emit: string;
  /** The stop string that matched, when one did (generation should end). */
  stop?: string;
}

export class StopMatcher {
  readonly #stops: string[];
  #held = "";

  constructor(stops: readonly string[]) {
    this.#stops = stops.filter((s) => s.length > 0);
  }

  get active(): boolean {
    return this.#stops.length > 0;
  }

  push(text: string): StopResult {
    if (!this.#stops.length) return { emit: text };
    const buf = this.#held + text;
    let first = -1;
    let which = "";
    for (const s of this.#stops) {
      const i = buf.indexOf(s);
      if (i >= 0 && (first < 0 || i < first)) {
        first = i;
        which = s;
      }
    }
    if (first >= 0) {
      this.#held = "";
      return { emit: buf.slice(0, first), stop: which };
    }
    const keep = this.#heldSuffix(buf);
    this.#held = buf.slice(buf.length - keep);
    return { emit: buf.slice(0, buf.length - keep) };
  }

  /** Releases held text at the end of generation (no stop string completed). */
  flush(): string {
    const t = this.#held;
    this.#held = "";
    return t;
  }

  /** Length of the longest suffix of `buf` that is a proper prefix of some stop string. */
  #heldSuffix(buf: string): number {
    let best = 0;
    for (const s of this.#stops) {
      const max = Math.min(s.length - 1, buf.length);
      for (let k = max; k > best; k--) {
        if (buf.endsWith(s.slice(0, k))) {
          best = k;
          break;
        }
      }
    }
    return best;
  }
}
