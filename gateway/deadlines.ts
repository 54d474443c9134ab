/**
 * Request deadlines (`[gateway] request_timeout`) on one coarse timer: every
 * request has the same limit, so deadlines fall due in the order they were
 * set, and a timer per request would keep thousands alive for minutes each.
 */

import { HttpError } from "../core/errors.ts";
import { formatDuration } from "../core/config/mod.ts";

export interface Deadline {
  /** Aborts, with a 504 HttpError as its reason, when the request has run too long. */
  signal: AbortSignal;
  /** The request ended in time: forget it. */
  release(): void;
}

export class Deadlines {
  readonly #due = new Map<AbortController, number>();
  #timer: ReturnType<typeof setInterval> | undefined;

  constructor(readonly limitMs: number, readonly resolutionMs = 100) {}

  start(): Deadline {
    const ac = new AbortController();
    this.#due.set(ac, performance.now() + this.limitMs);
    if (this.#timer === undefined) {
      this.#timer = setInterval(() => this.#tick(), this.resolutionMs);
      Deno.unrefTimer(this.#timer);
    }
    return { signal: ac.signal, release: () => this.#due.delete(ac) };
  }

  /** Requests being timed now. */
  get size(): number {
    return this.#due.size;
  }

  #tick(): void {
    const now = performance.now();
    for (const [ac, at] of this.#due) {
      if (at > now) break; // the rest are due later: they were set later
      this.#due.delete(ac);
      ac.abort(
        new HttpError(
          504,
          `the request took longer than request_timeout (${formatDuration(this.limitMs)})`,
          { code: "timeout" },
        ),
      );
    }
    if (!this.#due.size) {
      clearInterval(this.#timer);
      this.#timer = undefined;
    }
  }
}
