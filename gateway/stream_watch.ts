/**
 * What the gateway learns from a relayed OpenAI stream without decoding it:
 * when the first token passed (TTFT) and the usage at the end. It looks at
 * the bytes as they go by, by a rare anchor byte, once per chunk.
 */

/**
 * Where `needle` first occurs in `hay` at or after `from`, or -1. Candidates
 * are found by the needle's byte at `anchor`: pick a byte that is rare in the
 * haystack (a quote is in every JSON key, an underscore in few).
 */
export function indexOfBytes(hay: Uint8Array, needle: Uint8Array, from = 0, anchor = 0): number {
  const key = needle[anchor];
  const last = hay.length - needle.length;
  outer: for (
    let a = hay.indexOf(key, from + anchor);
    a !== -1 && a - anchor <= last;
    a = hay.indexOf(key, a + 1)
  ) {
    const i = a - anchor;
    for (let j = 0; j < needle.length; j++) if (hay[i + j] !== needle[j]) continue outer;
    return i;
  }
  return -1;
}

const enc = new TextEncoder();
const FIRST_TOKEN = [
  enc.encode(`"delta":{"content":"`),
  enc.encode(`"delta":{"reasoning_content":"`),
  enc.encode(`"delta":{"tool_calls":`),
  enc.encode(`"text":"`),
];
const USAGE = enc.encode(`"prompt_tokens":`);
const DONE = enc.encode("data: [DONE]\n\n");
/** The underscore: checked in every chunk, so candidates are found by a rare byte. */
const USAGE_ANCHOR = 7;

export interface Usage {
  promptTokens: number;
  completionTokens: number;
}

export function parseUsage(text: string): Usage | null {
  const p = /"prompt_tokens":(\d+)/.exec(text);
  const c = /"completion_tokens":(\d+)/.exec(text);
  return p && c ? { promptTokens: Number(p[1]), completionTokens: Number(c[1]) } : null;
}

/** The most of an unfinished event kept between reads (a usage frame is about 100 bytes). */
const MAX_CARRY = 64 * 1024;

/**
 * Watches an OpenAI stream go by: when the first token passed, and the usage
 * at the end. It looks at whole events only: an event split across reads is
 * carried to the next read (neurons write whole events, so this is rare).
 */
export class StreamWatch {
  firstTokenAt = 0;
  usage: Usage | null = null;
  /** The neuron's `[DONE]` went by: the answer is complete. */
  done = false;
  #carry: Uint8Array | null = null;

  see(chunk: Uint8Array): void {
    let buf = chunk;
    if (this.#carry) {
      buf = new Uint8Array(this.#carry.length + chunk.length);
      buf.set(this.#carry);
      buf.set(chunk, this.#carry.length);
      this.#carry = null;
    }
    const end = eventsEnd(buf);
    if (end < buf.length && buf.length - end <= MAX_CARRY) this.#carry = buf.slice(end);
    if (end > 0) this.#look(end === buf.length ? buf : buf.subarray(0, end));
  }

  #look(events: Uint8Array): void {
    if (!this.firstTokenAt) {
      for (const n of FIRST_TOKEN) {
        const i = indexOfBytes(events, n);
        // `"content":""` (the role chunk) is no token yet.
        if (i >= 0 && events[i + n.length] !== 0x22) {
          this.firstTokenAt = performance.now();
          break;
        }
      }
    }
    if (indexOfBytes(events, USAGE, 0, USAGE_ANCHOR) >= 0) {
      this.usage = parseUsage(new TextDecoder().decode(events)) ?? this.usage;
    }
    // `[DONE]` is the last event the neuron writes: only a chunk's tail can hold it.
    const tail = events.length - DONE.length;
    if (tail >= 0 && indexOfBytes(events, DONE, tail) === tail) this.done = true;
  }
}

/** Where the last complete SSE event in `buf` ends (after its blank line), 0 when none does. */
export function eventsEnd(buf: Uint8Array): number {
  const n = buf.length;
  if (n >= 2 && buf[n - 1] === 0x0a && buf[n - 2] === 0x0a) return n;
  for (let i = buf.lastIndexOf(0x0a, n - 1); i > 0; i = buf.lastIndexOf(0x0a, i - 1)) {
    if (buf[i - 1] === 0x0a) return i + 1;
  }
  return 0;
}
