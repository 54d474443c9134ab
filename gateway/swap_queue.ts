/**
 * The gateway's per-model wait queue and its swap policy, as plain state:
 * who waits for which model (and since when), which resident models are
 * closed to new requests because a waiting model needs their room, and a
 * change signal the waiters sleep on. Lifecycle asks it; it never calls out.
 *
 * The policy (README "Swapping"): a waiting model W that needs the room of a
 * busy resident R *claims* R. R keeps taking new requests for at most
 * `maxWaitMs` after the claim and at most `maxBatch` of them (collation: a
 * swap is expensive, so the resident model serves a batch first), then it is
 * closed: its new requests queue at the gateway, R drains, W loads. A
 * claimant of higher residency_priority than R closes it at once. Waiting
 * models take rooms in order: higher residency_priority first, then the one
 * whose oldest request has waited longest.
 */

export interface SwapQueueOptions {
  /** Longest a resident model keeps admitting new requests once claimed, ms. */
  maxWaitMs: number;
  /** Most new requests a claimed resident model admits. */
  maxBatch: number;
}

export interface Waiter {
  readonly model: string;
  readonly priority: number;
  /** performance.now() when it joined. */
  readonly since: number;
  readonly signal?: AbortSignal;
}

interface Gate {
  /** The waiting model that claimed this resident's room. */
  forModel: string;
  since: number;
  admitted: number;
  /** The claimant outranks the resident: no new requests at all. */
  urgent: boolean;
}

const key = (neuron: string, model: string) => `${neuron}\u0000${model}`;

export class SwapQueue {
  readonly #opts: SwapQueueOptions;
  /** model → its waiters in arrival order. */
  readonly #waiting = new Map<string, Waiter[]>();
  /** model → the room (neuron/device) its last wait plan needs. */
  readonly #rooms = new Map<string, string>();
  /** (neuron, resident model) → its claim. */
  readonly #gates = new Map<string, Gate>();
  #wakers = new Set<() => void>();

  constructor(opts: SwapQueueOptions) {
    this.#opts = opts;
  }

  get size(): number {
    let n = 0;
    for (const ws of this.#waiting.values()) n += ws.length;
    return n;
  }

  /** Waiters per model (for the metrics gauge). */
  lengths(): Map<string, number> {
    const out = new Map<string, number>();
    for (const [m, ws] of this.#waiting) out.set(m, ws.length);
    return out;
  }

  length(model: string): number {
    return this.#waiting.get(model)?.length ?? 0;
  }

  join(model: string, priority: number, signal?: AbortSignal): Waiter {
    const w: Waiter = { model, priority, since: performance.now(), signal };
    const list = this.#waiting.get(model) ?? [];
    list.push(w);
    this.#waiting.set(model, list);
    return w;
  }

  /** Removes a waiter (served, timed out or gone); wakes the others. */
  leave(w: Waiter): void {
    const list = this.#waiting.get(w.model);
    if (!list) return;
    const i = list.indexOf(w);
    if (i < 0) return;
    list.splice(i, 1);
    if (!list.length) {
      this.#waiting.delete(w.model);
      this.#rooms.delete(w.model);
    }
    this.notify();
  }

  /** 1-based place of the waiter whose request carries `signal`, or null. */
  positionOf(signal: AbortSignal): { model: string; position: number } | null {
    for (const [model, list] of this.#waiting) {
      const i = list.findIndex((w) => w.signal === signal);
      if (i >= 0) return { model, position: i + 1 };
    }
    return null;
  }

  /** Records the room a waiting model's plan needs (for the order between waiters). */
  setRoom(model: string, room: string | null): void {
    if (room === null || !this.#waiting.has(model)) this.#rooms.delete(model);
    else this.#rooms.set(model, room);
  }

  /**
   * Whether another waiting model goes before `model` for `room`: higher
   * priority, or equal priority and an older first request. A model with no
   * waiters ranks as if it joined now.
   */
  behindOther(model: string, priority: number, room: string): boolean {
    const mine = this.#waiting.get(model)?.[0]?.since ?? performance.now();
    for (const [other, list] of this.#waiting) {
      if (other === model || this.#rooms.get(other) !== room || !list.length) continue;
      const p = list[0].priority;
      if (p > priority || (p === priority && list[0].since < mine)) return true;
    }
    return false;
  }

  /** A waiting model needs this busy resident's room. The first claim stands. */
  claim(neuron: string, resident: string, residentPriority: number, w: Waiter): void {
    const k = key(neuron, resident);
    const g = this.#gates.get(k);
    if (g && this.length(g.forModel) > 0) {
      if (w.priority > residentPriority) g.urgent = true;
      return;
    }
    this.#gates.set(k, {
      forModel: w.model,
      since: performance.now(),
      admitted: 0,
      urgent: w.priority > residentPriority,
    });
  }

  /** Whether the resident is closed to new requests (without admitting one). */
  isClosed(neuron: string, model: string): boolean {
    const g = this.#live(key(neuron, model));
    if (!g) return false;
    return g.urgent || this.#spent(g);
  }

  /**
   * Whether a new request may go to this resident copy now; counts it
   * against the claim's batch when one stands.
   */
  admit(neuron: string, model: string): boolean {
    const g = this.#live(key(neuron, model));
    if (!g) return true;
    if (g.urgent || this.#spent(g)) return false;
    g.admitted++;
    return true;
  }

  /** The resident left (unloaded): its claim with it. */
  release(neuron: string, model: string): void {
    this.#gates.delete(key(neuron, model));
  }

  #live(k: string): Gate | undefined {
    const g = this.#gates.get(k);
    if (g && this.length(g.forModel) === 0) {
      // Whoever claimed it was served or left: open again.
      this.#gates.delete(k);
      return undefined;
    }
    return g;
  }

  #spent(g: Gate): boolean {
    return g.admitted >= this.#opts.maxBatch ||
      performance.now() - g.since >= this.#opts.maxWaitMs;
  }

  /** Something changed (a request ended, a load or unload finished, a poll): look again. */
  notify(): void {
    if (this.#wakers.size === 0) return;
    const wakers = this.#wakers;
    this.#wakers = new Set();
    for (const fn of wakers) fn();
  }

  /** Resolves at the next change, after `ms`, or when `signal` aborts (which rejects). */
  changed(ms: number, signal?: AbortSignal): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      if (signal?.aborted) return reject(signal.reason);
      const done = () => {
        clearTimeout(timer);
        signal?.removeEventListener("abort", onAbort);
        this.#wakers.delete(done);
        resolve();
      };
      const onAbort = () => {
        clearTimeout(timer);
        this.#wakers.delete(done);
        reject(signal!.reason);
      };
      signal?.addEventListener("abort", onAbort, { once: true });
      const timer = setTimeout(done, Math.max(0, ms));
      this.#wakers.add(done);
    });
  }
}
