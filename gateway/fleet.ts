/**
 * The gateway's view of its neurons, kept fresh by polling each one's
 * /health and /models. A neuron that stops answering is marked down after
 * a short grace and is no routing target until it answers again.
 *
 * What "down" means: the neuron's API does not answer `/models` (the list of
 * what it holds and serves) for `down_after`, and no request proxied to it was
 * answered meanwhile — live traffic is evidence of health, so a gateway whose
 * saturated event loop makes polls time out does not drop a neuron that is
 * streaming answers. A neuron whose `/health` fails while `/models` answers is
 * up for the models it holds but is no placement target: its device figures
 * (free memory) are unknown until `/health` answers again.
 */

import type { Device, NeuronModel } from "../core/neuron/schemas.ts";
import { createLogger } from "../core/log.ts";
import { NeuronClient, type NeuronTarget } from "./neuron_client.ts";
import type { FleetSnapshot, NeuronSnapshot } from "./placement.ts";

export interface NeuronState {
  client: NeuronClient;
  up: boolean;
  /** Last successful poll (ms since epoch), 0 = never. */
  lastOk: number;
  /** First failure of the current failure run, 0 = healthy. */
  failingSince: number;
  lastError: string | null;
  devices: Device[];
  /** Loaded/loading/failed models and store files, merged. */
  models: NeuronModel[];
  version: string | null;
  /**
   * model id → requests the neuron reported at the last poll beyond the
   * gateway's own (sent to it directly); see UsageTracker.pollWindow.
   */
  outside: Map<string, number>;
}

/** What the poller learns from the gateway's own traffic (UsageTracker). */
export interface TrafficFacts {
  pollWindow(neuron: string): { end(): ReadonlyMap<string, number> };
  /** Epoch ms of the last request the neuron answered, 0 = none. */
  lastAnswered(neuron: string): number;
}

export interface FleetOptions {
  pollIntervalMs: number;
  /** Failing this long marks a neuron down. */
  downAfterMs: number;
  /** Per-poll request timeout. */
  timeoutMs?: number;
}

export class Fleet {
  readonly neurons: NeuronState[];
  readonly #opts: FleetOptions;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #stopped = false;
  #inflight = new Map<string, Promise<void>>();
  /** The poll queued behind the one in flight, per neuron. */
  #next = new Map<string, Promise<void>>();
  #listeners: (() => void)[] = [];
  #log = createLogger("fleet");

  constructor(targets: NeuronTarget[], opts: FleetOptions) {
    this.#opts = opts;
    this.neurons = targets.map((t) => ({
      client: new NeuronClient(t),
      up: false,
      lastOk: 0,
      failingSince: 0,
      lastError: null,
      devices: [],
      models: [],
      version: null,
      outside: new Map(),
    }));
  }

  #traffic: TrafficFacts | null = null;

  /** Lets polls tell the gateway's requests from others', and traffic keep a neuron up. */
  useTraffic(traffic: TrafficFacts): void {
    this.#traffic = traffic;
  }

  get(name: string): NeuronState | undefined {
    return this.neurons.find((n) => n.client.name === name);
  }

  /** Called after every poll round or refresh (catalogue, metrics). */
  onChange(fn: () => void): void {
    this.#listeners.push(fn);
  }

  /** Polls every neuron once, then keeps polling on the interval. */
  async start(): Promise<void> {
    await this.pollAll();
    const loop = () => {
      if (this.#stopped) return;
      this.#timer = setTimeout(async () => {
        await this.pollAll();
        loop();
      }, this.#opts.pollIntervalMs);
    };
    loop();
  }

  stop(): void {
    this.#stopped = true;
    clearTimeout(this.#timer);
  }

  /** Stops polling and closes the proxy's pooled connections. */
  close(): void {
    this.stop();
    for (const n of this.neurons) n.client.close();
  }

  async pollAll(): Promise<void> {
    await Promise.all(this.neurons.map((n) => this.refresh(n.client.name)));
  }

  /**
   * Polls one neuron now (after a load or unload) and resolves once the view
   * is at least as new as the call. A poll already under way may have read
   * the neuron before the caller's change, so one more follows it, shared by
   * every caller that arrives meanwhile.
   */
  refresh(name: string): Promise<void> {
    const running = this.#inflight.get(name);
    if (running) {
      let next = this.#next.get(name);
      if (!next) {
        next = running.then(() => {
          this.#next.delete(name);
          return this.refresh(name);
        });
        this.#next.set(name, next);
      }
      return next;
    }
    const n = this.get(name);
    if (!n) return Promise.resolve();
    const p = this.#poll(n).finally(() => this.#inflight.delete(name));
    this.#inflight.set(name, p);
    return p;
  }

  /** Marks a neuron failing right away (a proxied request could not reach it). */
  reportFailure(name: string, error: string): void {
    const n = this.get(name);
    if (!n) return;
    this.#failed(n, error);
  }

  async #poll(n: NeuronState): Promise<void> {
    const signal = AbortSignal.timeout(
      this.#opts.timeoutMs ?? Math.max(1000, this.#opts.downAfterMs),
    );
    const window = this.#traffic?.pollWindow(n.client.name);
    try {
      const [health, models] = await Promise.all([
        n.client.health(signal).catch((e: Error) => e),
        n.client.models(signal),
      ]);
      const peaks = window?.end();
      const wasUp = n.up;
      n.up = true;
      n.lastOk = Date.now();
      n.failingSince = 0;
      let records = models;
      if (health instanceof Error) {
        // Alive (it answers /models) but its devices are unknown: no placements there.
        n.lastError = `/health: ${health.message}`;
        n.devices = [];
      } else {
        n.lastError = null;
        n.devices = health.devices;
        n.version = health.version;
        // /models lists store files too; /health's records are fresher for in-flight counts.
        const live = new Map(health.models.map((m) => [m.id, m]));
        records = models.map((m) => live.get(m.id) ?? m);
        for (const m of health.models) if (!records.some((x) => x.id === m.id)) records.push(m);
      }
      n.models = records;
      n.outside = new Map();
      if (peaks) {
        for (const m of records) {
          const extra = m.in_flight + m.queued - (peaks.get(m.id) ?? 0);
          if (extra > 0) n.outside.set(m.id, extra);
        }
      }
      if (!wasUp) this.#log.info("neuron up", { neuron: n.client.name });
    } catch (e) {
      window?.end();
      this.#failed(n, (e as Error).message);
    }
    for (const fn of this.#listeners) fn();
  }

  #failed(n: NeuronState, error: string): void {
    const now = Date.now();
    n.lastError = error;
    if (!n.failingSince) n.failingSince = now;
    // A request answered within the grace shows it alive (the poll, not the neuron, was slow).
    const answered = this.#traffic?.lastAnswered(n.client.name) ?? 0;
    if (n.lastOk !== 0 && now - answered < this.#opts.downAfterMs) return;
    // Never seen up, or failing past the grace: down.
    if (n.up && (now - n.failingSince >= this.#opts.downAfterMs || n.lastOk === 0)) {
      n.up = false;
      this.#log.warn("neuron down", { neuron: n.client.name, error });
    }
  }

  /** Marks a neuron down at once (connection refused during a request). */
  markDown(name: string, error: string): void {
    const n = this.get(name);
    if (!n || !n.up) return;
    n.up = false;
    n.lastError = error;
    n.failingSince ||= Date.now();
    this.#log.warn("neuron down", { neuron: name, error });
    for (const fn of this.#listeners) fn();
  }

  snapshot(): FleetSnapshot {
    return this.neurons.map((n): NeuronSnapshot => ({
      name: n.client.name,
      up: n.up,
      devices: n.devices,
      models: n.models,
    }));
  }
}
