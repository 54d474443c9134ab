/**
 * The gateway's own per (neuron, model) bookkeeping: requests in flight
 * (never evict those; route to the least loaded), last use (LRU), and a
 * moving average of generation speed for `cortex status`.
 */

const key = (neuron: string, model: string) => `${neuron}\u0000${model}`;

export class UsageTracker {
  #inFlight = new Map<string, number>();
  #lastUsed = new Map<string, number>();
  #tokPerS = new Map<string, number>();
  /** (neuron, model) pairs being unloaded: no new requests go there. */
  #evicting = new Set<string>();

  inFlight = (neuron: string, model: string): number => this.#inFlight.get(key(neuron, model)) ?? 0;

  lastUsed(neuron: string, model: string): number {
    return this.#lastUsed.get(key(neuron, model)) ?? 0;
  }

  /** Marks a request started; call the returned function once when it ends. */
  begin(neuron: string, model: string): () => void {
    const k = key(neuron, model);
    this.#inFlight.set(k, (this.#inFlight.get(k) ?? 0) + 1);
    this.#lastUsed.set(k, Date.now());
    let done = false;
    return () => {
      if (done) return;
      done = true;
      const n = (this.#inFlight.get(k) ?? 1) - 1;
      if (n <= 0) this.#inFlight.delete(k);
      else this.#inFlight.set(k, n);
      this.#lastUsed.set(k, Date.now());
    };
  }

  touch(neuron: string, model: string): void {
    this.#lastUsed.set(key(neuron, model), Date.now());
  }

  forget(neuron: string, model: string): void {
    const k = key(neuron, model);
    this.#lastUsed.delete(k);
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
