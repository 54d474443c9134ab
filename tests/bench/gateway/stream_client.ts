/**
 * Streaming latency as a client sees it: `clients` loops each POSTing a streamed chat
 * completion and reading the SSE body, timing the first token (TTFT) and the gaps between
 * token events. Events are found by their bytes, never JSON-parsed, to keep the client light.
 */

import { percentile } from "./stats.ts";

export interface StreamResult {
  /** Streams finished per second (all clients). */
  streamsPerS: number;
  ttftP50Ms: number;
  ttftP99Ms: number;
  gapP50Ms: number;
  gapP99Ms: number;
  /** Token events per stream (median), to check the peer passed every event. */
  tokensPerStream: number;
  errors: number;
}

const enc = new TextEncoder();
const EVENT_END = enc.encode("\n\n");
/** A token event: a content delta with text (the role event's content is ""). */
const TOKEN_PREFIX = enc.encode(`"delta":{"content":"`);
const DONE = enc.encode("data: [DONE]");

function indexOf(hay: Uint8Array, needle: Uint8Array, from: number): number {
  const first = needle[0];
  outer: for (let i = hay.indexOf(first, from); i !== -1; i = hay.indexOf(first, i + 1)) {
    if (i + needle.length > hay.length) return -1;
    for (let j = 1; j < needle.length; j++) if (hay[i + j] !== needle[j]) continue outer;
    return i;
  }
  return -1;
}

/**
 * Splits an SSE byte stream into events across chunk boundaries and reports, per chunk,
 * how many token events it completed and whether `[DONE]` came.
 */
export class SseEventCounter {
  #carry: Uint8Array = new Uint8Array(0);
  done = false;

  /** Token events completed by this chunk. */
  push(chunk: Uint8Array): number {
    let buf = chunk;
    if (this.#carry.length) {
      buf = new Uint8Array(this.#carry.length + chunk.length);
      buf.set(this.#carry);
      buf.set(chunk, this.#carry.length);
    }
    let tokens = 0;
    let start = 0;
    for (let end = indexOf(buf, EVENT_END, 0); end !== -1; end = indexOf(buf, EVENT_END, start)) {
      const ev = buf.subarray(start, end);
      const t = indexOf(ev, TOKEN_PREFIX, 0);
      if (t !== -1 && ev[t + TOKEN_PREFIX.length] !== 0x22) tokens++;
      else if (indexOf(ev, DONE, 0) === 0) this.done = true;
      start = end + EVENT_END.length;
    }
    this.#carry = buf.slice(start);
    return tokens;
  }
}

/** Runs streams for `seconds` from `clients` concurrent loops. */
export async function measureStreams(spec: {
  url: string;
  body: string;
  clients: number;
  seconds: number;
}): Promise<StreamResult> {
  const ttft: number[] = [];
  const gaps: number[] = [];
  const perStream: number[] = [];
  let errors = 0;
  const start = performance.now();
  const end = start + spec.seconds * 1000;
  const one = async () => {
    const t0 = performance.now();
    const res = await fetch(spec.url, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: spec.body,
    });
    if (!res.ok || !res.body) {
      await res.body?.cancel();
      errors++;
      return;
    }
    const counter = new SseEventCounter();
    let tokens = 0;
    let last = 0;
    for await (const chunk of res.body) {
      const now = performance.now();
      const n = counter.push(chunk);
      for (let i = 0; i < n; i++) {
        if (tokens === 0) ttft.push(now - t0);
        else gaps.push(i === 0 ? now - last : 0);
        tokens++;
      }
      if (n) last = now;
    }
    if (counter.done) perStream.push(tokens);
    else errors++;
  };
  const client = async () => {
    while (performance.now() < end) {
      try {
        await one();
      } catch {
        errors++;
      }
    }
  };
  await Promise.all(Array.from({ length: spec.clients }, client));
  const elapsed = (performance.now() - start) / 1000;
  return {
    streamsPerS: perStream.length / elapsed,
    ttftP50Ms: percentile(ttft, 50),
    ttftP99Ms: percentile(ttft, 99),
    gapP50Ms: percentile(gaps, 50),
    gapP99Ms: percentile(gaps, 99),
    tokensPerStream: percentile(perStream, 50),
    errors,
  };
}
