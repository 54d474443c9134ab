/**
 * Gives memory back to the OS once a burst of streams has ended.
 *
 * glibc keeps what a process frees for reuse. After 1,024 streams through the gateway
 * (`deno task bench gateway`), mallinfo2 counted 19 MiB of native memory in use and 175 MiB
 * free but still resident; `malloc_trim(0)` returns those pages (1-10 ms a call). It runs when
 * the load falls, and again each time V8 shrinks its heap in the minute after: the runtime
 * frees a stream's last buffers only when the JavaScript objects holding them are collected,
 * and V8 collects an idle heap on its own schedule, 8 to 20 s later in that benchmark.
 */

import { createLogger } from "../core/log.ts";

export interface ReclaimOptions {
  /** Requests in flight now. */
  load: () => number;
  /** Bytes V8 holds for its heap now. */
  heap?: () => number;
  /** Returns freed memory to the OS; default `malloc_trim(0)` from glibc when it can be opened. */
  trim?: (() => void) | null;
  /** How often the load is sampled. */
  everyMs?: number;
  /** A burst smaller than this leaves too little behind to be worth a trim. */
  minPeak?: number;
  /** Samples after a burst during which a shrinking heap calls for another trim. */
  window?: number;
}

/** The decision, apart from timers: feed it one sample a tick, it says when to trim. */
export class ReclaimPolicy {
  #peak = 0;
  #left = 0;
  /** The load when the last burst was seen to end. */
  #ended = 0;
  #heap = 0;

  constructor(readonly minPeak: number, readonly window: number) {}

  /** True when a trim is due at this sample. */
  sample(load: number, heap: number): boolean {
    if (load > this.#peak) this.#peak = load;
    // A burst has ended when the load falls to a quarter of its peak.
    if (this.#peak >= this.minPeak && load * 4 <= this.#peak) {
      this.#peak = 0;
      this.#ended = load;
      this.#left = this.window;
      this.#heap = heap;
      return true;
    }
    if (this.#left === 0) return false;
    if (load > this.#ended) {
      // A new burst began: its end will call for trims of its own.
      this.#left = 0;
      return false;
    }
    this.#left--;
    const shrank = heap < this.#heap;
    this.#heap = heap;
    return shrank;
  }
}

/** `malloc_trim(0)` through FFI; null off glibc or without the FFI permission. */
export function openMallocTrim(): (() => void) | null {
  if (Deno.build.os !== "linux") return null;
  try {
    const libc = Deno.dlopen("libc.so.6", {
      malloc_trim: { parameters: ["usize"], result: "i32" },
    });
    return () => void libc.symbols.malloc_trim(0n);
  } catch {
    return null;
  }
}

/** Samples the load and trims after bursts until `stop()`. */
export function startMemoryReclaim(opts: ReclaimOptions): { stop(): void } {
  const trim = opts.trim === undefined ? openMallocTrim() : opts.trim;
  if (!trim) {
    createLogger("gateway").debug("malloc_trim unavailable: freed memory stays with the process");
    return { stop() {} };
  }
  const heap = opts.heap ?? (() => Deno.memoryUsage().heapTotal);
  const policy = new ReclaimPolicy(opts.minPeak ?? 64, opts.window ?? 60);
  const timer = setInterval(() => {
    if (policy.sample(opts.load(), heap())) trim();
  }, opts.everyMs ?? 1000);
  Deno.unrefTimer(timer);
  return { stop: () => clearInterval(timer) };
}
