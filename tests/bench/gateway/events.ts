/**
 * SSE events counted by their bytes: an event ends at a blank line (`\n\n`), so counting
 * those is all the client does per event — no JSON parsing, no strings, one byte of state
 * across reads. The last 14 bytes are kept to tell whether the stream ended in `[DONE]`.
 */

const LF = 10;
const DONE = new TextEncoder().encode("data: [DONE]\n\n");

export class SseEventCounter {
  /** Events ended so far. */
  events = 0;
  #lastWasLf = false;
  readonly #tail = new Uint8Array(DONE.length);
  #tailLen = 0;

  /** Counts the events that `buf[start, end)` ends. */
  push(buf: Uint8Array, start = 0, end = buf.length): number {
    if (end <= start) return 0;
    const v = buf.subarray(start, end);
    let n = 0;
    let prev = this.#lastWasLf ? -1 : -2;
    for (let i = v.indexOf(LF); i !== -1; i = v.indexOf(LF, i + 1)) {
      if (prev === i - 1) {
        n++;
        prev = -2; // "\n\n\n" ends one event, not two
      } else {
        prev = i;
      }
    }
    this.#lastWasLf = prev === v.length - 1;
    this.#keepTail(buf, start, end);
    this.events += n;
    return n;
  }

  /** Whether the last event was `data: [DONE]`, as an OpenAI stream ends. */
  get endedWithDone(): boolean {
    if (this.#tailLen < DONE.length) return false;
    return this.#tail.every((b, i) => b === DONE[i]);
  }

  #keepTail(buf: Uint8Array, start: number, end: number): void {
    const t = this.#tail;
    const len = end - start;
    if (len >= t.length) {
      t.set(buf.subarray(end - t.length, end));
      this.#tailLen = t.length;
      return;
    }
    const keep = Math.min(this.#tailLen, t.length - len);
    t.copyWithin(0, this.#tailLen - keep, this.#tailLen);
    t.set(buf.subarray(start, end), keep);
    this.#tailLen = keep + len;
  }
}
