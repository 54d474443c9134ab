/**
 * The gateway's own per (neuron, model) bookkeeping: requests in flight
 * (never evict those; route to the least loaded), last use (LRU), and a
 * moving average of generation speed for `cortex status`.
 *
 * It is the first to know when a model goes idle: the poller's counts are as
 * old as the last poll. Two facts reconcile the two views:
 * - a request routed but not yet begun is *reserved* until its `begin` (or
 *   the next macrotask), so no placement sees the model idle in between;
 * - `pollWindow` records the most requests the gateway had in flight during a
 *   poll, so the neuron's counts can be split into the gateway's own and the
 *   requests others send it directly (see Fleet).
 */

const key = (neuron: string, model: string) => `${neuron}\u0000${model}`;

export class UsageTracker {
  #inFlight = new Map<string, number>();
  #total = 0;
  #reserved = new Map<string, number>();
  #sweep: ReturnType<typeof setTimeout> | undefined;
  #lastUsed = new Map<string, number>();
  /** Idle unload a client asked for (Ollama's `keep_alive`), ms; Infinity = never. */
  #keepAlive = new Map<string, number>();
  #tokPerS = new Map<string, number>();
  /** (neuron, model) pairs being unloaded: no new requests go there. */
  #evicting = new Set<string>();
  /** neuron → (model → peak in flight) while a poll of it runs. */
  #windows = new Map<string, Map<string, number>>();
  /** neuron → epoch ms of the last request it answered without a neuron-side failure. */
  #answered = new Map<string, number>();
  #onEnd: (() => void)[] = [];

  /** Requests in flight (reservations included) to `model` on `neuron`. */
  inFlight = (neuron: string, model: string): number => {
    const k = key(neuron, model);
    return (this.#inFlight.get(k) ?? 0) + (this.#reserved.get(k) ?? 0);
  };

  /** Requests in flight to every model on every neuron. */
  total(): number {
    return this.#total;
  }

  lastUsed(neuron: string, model: string): number {
    return this.#lastUsed.get(key(neuron, model)) ?? 0;
  }

  /** Called whenever a request ends (the swap queue looks again). */
  onEnd(fn: () => void): void {
    this.#onEnd.push(fn);
  }

  /**
   * Counts a request routed to (neuron, model) as in flight until its
   * `begin`, or until the next macrotask when no begin follows (an admin
   * load, a token count): routing and begin are a few microtasks apart, and
   * a placement running between them must not see the model idle.
   */
  reserve(neuron: string, model: string): void {
    const k = key(neuron, model);
    this.#reserved.set(k, (this.#reserved.get(k) ?? 0) + 1);
    this.#peak(neuron, model, k);
    this.#sweep ??= setTimeout(() => {
      this.#sweep = undefined;
      if (this.#reserved.size === 0) return;
      this.#reserved.clear();
      this.#ended();
    }, 0);
  }

  /** Marks a request started; call the returned function once when it ends. */
  begin(neuron: string, model: string): () => void {
    const k = key(neuron, model);
    const r = this.#reserved.get(k);
    if (r !== undefined) {
      if (r <= 1) this.#reserved.delete(k);
      else this.#reserved.set(k, r - 1);
    }
    this.#inFlight.set(k, (this.#inFlight.get(k) ?? 0) + 1);
    this.#total++;
    this.#lastUsed.set(k, Date.now());
    if (this.#windows.size) this.#peak(neuron, model, k);
    let done = false;
    return () => {
      if (done) return;
      done = true;
      this.#total--;
      const n = (this.#inFlight.get(k) ?? 1) - 1;
      if (n <= 0) this.#inFlight.delete(k);
      else this.#inFlight.set(k, n);
      this.#lastUsed.set(k, Date.now());
      this.#ended();
    };
  }

  #ended(): void {
    for (const fn of this.#onEnd) fn();
  }

  #peak(neuron: string, model: string, k: string): void {
    const w = this.#windows.get(neuron);
    if (!w) return;
    const now = (this.#inFlight.get(k) ?? 0) + (this.#reserved.get(k) ?? 0);
    if (now > (w.get(model) ?? 0)) w.set(model, now);
  }

  /**
   * Starts recording the gateway's peak in-flight count per model of
   * `neuron` (a poll of it begins); `end` returns the peaks. A count the
   * neuron reports above the peak was sent by someone else.
   */
  pollWindow(neuron: string): { end(): ReadonlyMap<string, number> } {
    const w = new Map<string, number>();
    const prefix = `${neuron}\u0000`;
    for (const m of [this.#inFlight, this.#reserved]) {
      for (const [k, v] of m) {
        if (!k.startsWith(prefix)) continue;
        const model = k.slice(prefix.length);
        w.set(model, (w.get(model) ?? 0) + v);
      }
    }
    this.#windows.set(neuron, w);
    return {
      end: () => {
        if (this.#windows.get(neuron) === w) this.#windows.delete(neuron);
        return w;
      },
    };
  }

  /** A request to `neuron` got its answer (evidence the neuron is alive). */
  answered(neuron: string, at = Date.now()): void {
    this.#answered.set(neuron, at);
  }

  /** Epoch ms of the last request `neuron` answered, 0 = none. */
  lastAnswered(neuron: string): number {
    return this.#answered.get(neuron) ?? 0;
  }

  touch(neuron: string, model: string): void {
    this.#lastUsed.set(key(neuron, model), Date.now());
  }

  /**
   * A client's idle unload for `model` on `neuron` (ms after its last use; Infinity = never),
   * in place of `[eviction] idle_ttl` until another request sets one or the model unloads.
   */
  setKeepAlive(neuron: string, model: string, ms: number): void {
    this.#keepAlive.set(key(neuron, model), ms);
  }

  keepAlive(neuron: string, model: string): number | undefined {
    return this.#keepAlive.get(key(neuron, model));
  }

  forget(neuron: string, model: string): void {
    const k = key(neuron, model);
    this.#lastUsed.delete(k);
    this.#keepAlive.delete(k);
    this.#evicting.delete(k);
  }

  setEvicting(neuron: string, model: string, on: boolean): void {
    if (on) this.#evicting.add(key(neuron, model));
    else this.#evicting.delete(key(neuron, model));
  }

  isEvicting(neuron: string, model: string): boolean {
    return this.#evicting.has(key(neuron, model));
  }

  /** Folds one request's generation speed into the model's moving average. */
  recordSpeed(model: string, tokensPerSecond: number): void {
    if (!Number.isFinite(tokensPerSecond) || tokensPerSecond <= 0) return;
    const prev = this.#tokPerS.get(model);
    this.#tokPerS.set(
      model,
      prev === undefined ? tokensPerSecond : prev * 0.8 + tokensPerSecond * 0.2,
    );
  }

  speed(model: string): number | null {
    return this.#tokPerS.get(model) ?? null;
  }

  /** Requests in flight to a model across neurons. */
  modelInFlight(model: string): number {
    let n = 0;
    for (const [k, v] of this.#inFlight) if (k.endsWith(`\u0000${model}`)) n += v;
    return n;
  }

  neuronInFlight(neuron: string): number {
    let n = 0;
    for (const [k, v] of this.#inFlight) if (k.startsWith(`${neuron}\u0000`)) n += v;
    return n;
  }
}
