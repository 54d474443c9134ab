/**
 * Gives memory back to the OS once a burst of streams has ended.
 *
 * Two things keep a burst's memory after it. The runtime frees a stream's buffers (the
 * ArrayBuffers it read into, the connection's) only when V8 collects the JavaScript objects
 * holding them, and V8 collects an idle heap on its own schedule: in `deno task bench gateway`,
 * 1,024 streams ending left RSS at 230-240 MiB for 16-20 s or more, where 90 is the start. And
 * glibc keeps what is freed for reuse: mallinfo2 counted 19 MiB of native memory in use and
 * 175 MiB free but still resident. So when the load falls, the gateway runs one full
 * collection (25-65 ms on this 2-core machine, once per burst) and then `malloc_trim(0)`
 * (1-10 ms): RSS is back at its start within 2 s. Later, while the burst's last streams
 * end, each shrink of V8's heap calls for another trim, and once the upstream pool has closed
 * the burst's idle connections a second collection gives their buffers back too.
 */

import v8 from "node:v8";
import vm from "node:vm";
import { createLogger } from "../core/log.ts";

export interface ReclaimOptions {
  /** Requests in flight now. */
  load: () => number;
  /** Bytes V8 holds for its heap now. */
  heap?: () => number;
  /** Returns freed memory to the OS; default `malloc_trim(0)` from glibc when it can be opened. */
  trim?: (() => void) | null;
  /** A full garbage collection; default V8's `gc` (see `openCollect`). */
  collect?: (() => void) | null;
  /** How often the load is sampled. */
  everyMs?: number;
  /** A burst smaller than this leaves too little behind to be worth a trim. */
  minPeak?: number;
  /** Samples after a burst during which a shrinking heap calls for another trim. */
  window?: number;
  /**
   * Samples after a burst's end when a second collection is due: the upstream pool has
   * closed the burst's idle connections by then (`NEURON_POOL_IDLE_MS`), and their buffers
   * go back only with the objects that held them. 0: none.
   */
  again?: number;
}

/**
 * What a sample calls for: "collect" (a burst just ended, or its connections just closed: a
 * full collection, then a trim), "trim" (the heap shrank since: a trim alone), or null.
 */
export type Reclaim = "collect" | "trim" | null;

/** The decision, apart from timers: feed it one sample a tick, it says what to do. */
export class ReclaimPolicy {
  #peak = 0;
  #left = 0;
  /** The load when the last burst was seen to end. */
  #ended = 0;
  #heap = 0;
  /** Samples left until the second collection; 0 when none is due. */
  #againIn = 0;

  constructor(readonly minPeak: number, readonly window: number, readonly again = 0) {}

  sample(load: number, heap: number): Reclaim {
    if (load > this.#peak) this.#peak = load;
    // A burst has ended when the load falls to a quarter of its peak.
    if (this.#peak >= this.minPeak && load * 4 <= this.#peak) {
      this.#peak = 0;
      this.#ended = load;
      this.#left = Math.max(this.window, this.again);
      this.#againIn = this.again;
      this.#heap = heap;
      return "collect";
    }
    if (this.#left === 0) return null;
    if (load > this.#ended) {
      // A new burst began: its end will call for trims of its own.
      this.#left = 0;
      return null;
    }
    this.#left--;
    if (this.#againIn > 0 && --this.#againIn === 0) {
      this.#heap = heap;
      return "collect";
    }
    const shrank = heap < this.#heap;
    this.#heap = heap;
    return shrank ? "trim" : null;
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

/**
 * V8's `gc`, a full collection; null when the runtime refuses. Exposed at run time (as Node
 * programs do) rather than by a `--v8-flags` every way of starting the gateway would need.
 */
export function openCollect(): (() => void) | null {
  try {
    v8.setFlagsFromString("--expose-gc");
    const gc = vm.runInNewContext("gc");
    return typeof gc === "function" ? () => void gc() : null;
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
  const collect = opts.collect === undefined ? openCollect() : opts.collect;
  const policy = new ReclaimPolicy(opts.minPeak ?? 64, opts.window ?? 60, opts.again ?? 0);
  const timer = setInterval(() => {
    const due = policy.sample(opts.load(), heap());
    if (due === "collect") collect?.();
    if (due) trim();
  }, opts.everyMs ?? 1000);
  Deno.unrefTimer(timer);
  return { stop: () => clearInterval(timer) };
}
