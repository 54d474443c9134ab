/**
 * The dashboard's one event stream (`GET /cortex/events`): a snapshot on
 * connect, then updates as the fleet changes. Every update is built once,
 * encoded once, and the same bytes are enqueued to every subscriber, so 50
 * open dashboards cost 50 enqueues, not 50 builds. Changes are coalesced: at
 * most one `state` frame per `minGapMs`, and none when nothing a dashboard
 * shows changed. A subscriber that stops reading is cut off once its queue
 * holds more than `maxQueuedBytes`, so a stalled tab cannot grow the heap.
 *
 * Frames (`event:` name, JSON `data:`):
 * - `snapshot`: `{ state, series, events }` — sent first on every connection;
 * - `state`: the fleet (neurons, devices, models, catalogue, queue);
 * - `sample`: one new point of every model's series (every `sampleMs`);
 * - `events`: new cold loads, swaps and evictions.
 */

import type { Device } from "../../core/neuron/schemas.ts";
import type { NeuronState } from "../fleet.ts";
import type { FleetEvent, RequestObservation } from "../metrics.ts";

/** What the hub reads; the gateway's own objects satisfy it. */
export interface HubSources {
  fleet: { readonly neurons: readonly NeuronState[]; onChange(fn: () => void): void };
  catalogue: { list(): readonly { id: string; loadedOn: string[]; storedOn: string[] }[] };
  queue: { lengths(): ReadonlyMap<string, number> };
  usage: { modelInFlight(model: string): number };
  metrics: {
    onObserved(fn: (o: RequestObservation) => void): void;
    onFleetEvent(fn: (e: FleetEvent) => void): void;
  };
}

export interface HubOptions {
  /** Least time between two `state` frames. */
  minGapMs?: number;
  /** Series sampling period. */
  sampleMs?: number;
  /** Points kept per series (15 min at 10 s = 90). */
  points?: number;
  /** Events kept for a new dashboard. */
  maxEvents?: number;
  /** A subscriber with more than this queued and unread is cut off. */
  maxQueuedBytes?: number;
  /** A comment frame this often keeps idle connections (and proxies) open. */
  keepAliveMs?: number;
}

export interface DashEvent {
  at: number;
  kind: FleetEvent["kind"];
  model: string | null;
  node: string;
  reason: string | null;
}

/** Per-model columns over the shared sample clock; null = no data in that period. */
export interface Series {
  t: number[];
  models: Record<
    string,
    { ttft_p50: (number | null)[]; tps: (number | null)[]; in_flight: number[] }
  >;
}

const encoder = new TextEncoder();
const frame = (event: string, json: string) => encoder.encode(`event: ${event}\ndata: ${json}\n\n`);

/** A model's ring buffers; `head` is shared with the hub's clock. */
interface Ring {
  ttft: Float64Array;
  tps: Float64Array;
  inFlight: Float64Array;
  /** TTFTs (s) and tok/s seen since the last sample. */
  pendingTtft: number[];
  tokens: number;
  genS: number;
}

export class DashboardHub {
  readonly #src: HubSources;
  readonly #opts: Required<HubOptions>;
  readonly #subs = new Set<ReadableStreamDefaultController<Uint8Array>>();
  #stateJson = "";
  /** The state last broadcast (a new subscriber's snapshot may be newer). */
  #sentJson = "";
  #dirty = true;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #lastFlush = 0;
  #sampler: ReturnType<typeof setInterval>;
  #keepAlive: ReturnType<typeof setInterval>;
  /** Sample times (ms), a ring of `points`; `#count` filled so far, `#head` next slot. */
  readonly #times: Float64Array;
  #head = 0;
  #count = 0;
  readonly #rings = new Map<string, Ring>();
  readonly #events: DashEvent[] = [];
  #newEvents: DashEvent[] = [];
  #closed = false;
  /** Frames built (for tests: one per update however many subscribers). */
  builds = 0;

  constructor(src: HubSources, opts: HubOptions = {}) {
    this.#src = src;
    this.#opts = {
      minGapMs: opts.minGapMs ?? 250,
      sampleMs: opts.sampleMs ?? 10_000,
      points: opts.points ?? 90,
      maxEvents: opts.maxEvents ?? 200,
      maxQueuedBytes: opts.maxQueuedBytes ?? 8 << 20,
      keepAliveMs: opts.keepAliveMs ?? 15_000,
    };
    this.#times = new Float64Array(this.#opts.points);
    src.fleet.onChange(() => this.mark());
    src.metrics.onObserved((o) => this.#observe(o));
    src.metrics.onFleetEvent((e) => {
      const ev: DashEvent = {
        at: Date.now(),
        kind: e.kind,
        model: "model" in e ? e.model : null,
        node: e.node,
        reason: e.kind === "eviction" ? e.reason : null,
      };
      this.#events.push(ev);
      if (this.#events.length > this.#opts.maxEvents) this.#events.shift();
      if (this.#subs.size) this.#newEvents.push(ev);
      this.mark();
    });
    this.#sampler = setInterval(() => this.sample(), this.#opts.sampleMs);
    this.#keepAlive = setInterval(
      () => this.#broadcast(encoder.encode(": keep-alive\n\n")),
      this.#opts.keepAliveMs,
    );
    Deno.unrefTimer(this.#sampler);
    Deno.unrefTimer(this.#keepAlive);
  }

  get subscribers(): number {
    return this.#subs.size;
  }

  /** Something a dashboard shows may have changed: a `state` frame follows within `minGapMs`. */
  mark(): void {
    this.#dirty = true;
    if (this.#timer !== undefined || !this.#subs.size || this.#closed) return;
    const wait = Math.max(0, this.#lastFlush + this.#opts.minGapMs - Date.now());
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.flush();
    }, wait);
  }

  /** Sends what changed since the last flush to every subscriber, built once. */
  flush(): void {
    this.#lastFlush = Date.now();
    // Nobody watching: nothing is built (a new subscriber's snapshot is built fresh).
    if (!this.#subs.size) {
      this.#newEvents = [];
      return;
    }
    if (this.#newEvents.length) {
      const bytes = frame("events", JSON.stringify(this.#newEvents));
      this.#newEvents = [];
      this.builds++;
      this.#broadcast(bytes);
    }
    this.#refreshState();
    if (this.#stateJson === this.#sentJson) return;
    this.#sentJson = this.#stateJson;
    this.builds++;
    this.#broadcast(frame("state", this.#stateJson));
  }

  /** Takes one point of every model's series now (the sampler calls this every `sampleMs`). */
  sample(now = Date.now()): void {
    const n = this.#opts.points;
    const slot = this.#head;
    this.#times[slot] = now;
    this.#head = (slot + 1) % n;
    this.#count = Math.min(n, this.#count + 1);
    const catalogued = new Set(this.#src.catalogue.list().map((e) => e.id));
    const ids = new Set([...catalogued, ...this.#rings.keys()]);
    const point: Record<string, [number | null, number | null, number]> = {};
    for (const id of ids) {
      const r = this.#ring(id);
      const inFlight = this.#src.usage.modelInFlight(id);
      r.ttft[slot] = r.pendingTtft.length ? median(r.pendingTtft) * 1000 : NaN;
      r.tps[slot] = r.genS > 0 ? r.tokens / r.genS : NaN;
      r.inFlight[slot] = inFlight;
      r.pendingTtft = [];
      r.tokens = 0;
      r.genS = 0;
      point[id] = [num(r.ttft[slot]), num(r.tps[slot]), inFlight];
      if (!catalogued.has(id) && isEmpty(r)) this.#rings.delete(id);
    }
    if (this.#subs.size) {
      this.builds++;
      this.#broadcast(frame("sample", JSON.stringify({ t: now, models: point })));
    }
  }

  /** A new subscriber's stream: the snapshot, then every broadcast until it goes away. */
  subscribe(signal?: AbortSignal): ReadableStream<Uint8Array> {
    let ctl: ReadableStreamDefaultController<Uint8Array>;
    const drop = () => {
      this.#subs.delete(ctl);
    };
    return new ReadableStream<Uint8Array>({
      start: (c) => {
        ctl = c;
        this.#refreshState();
        const snap = `{"state":${this.#stateJson},"series":${
          JSON.stringify(this.#series())
        },"events":${JSON.stringify(this.#events)}}`;
        c.enqueue(frame("snapshot", snap));
        this.#subs.add(c);
        signal?.addEventListener("abort", () => {
          drop();
          try {
            c.close();
          } catch { /* closed */ }
        }, { once: true });
      },
      cancel: drop,
    }, { highWaterMark: this.#opts.maxQueuedBytes, size: (b: Uint8Array) => b.byteLength });
  }

  close(): void {
    this.#closed = true;
    clearInterval(this.#sampler);
    clearInterval(this.#keepAlive);
    clearTimeout(this.#timer);
    for (const c of this.#subs) {
      try {
        c.close();
      } catch { /* closed */ }
    }
    this.#subs.clear();
  }

  #broadcast(bytes: Uint8Array): void {
    for (const c of this.#subs) {
      // desiredSize < 0: more than maxQueuedBytes unread — a stalled reader, cut it off.
      if ((c.desiredSize ?? 0) < 0) {
        this.#subs.delete(c);
        try {
          c.error(new Error("dashboard stream fell behind"));
        } catch { /* closed */ }
        continue;
      }
      try {
        c.enqueue(bytes);
      } catch {
        this.#subs.delete(c);
      }
    }
  }

  #ring(id: string): Ring {
    let r = this.#rings.get(id);
    if (!r) {
      const n = this.#opts.points;
      r = {
        ttft: new Float64Array(n).fill(NaN),
        tps: new Float64Array(n).fill(NaN),
        inFlight: new Float64Array(n),
        pendingTtft: [],
        tokens: 0,
        genS: 0,
      };
      this.#rings.set(id, r);
    }
    return r;
  }

  #observe(o: RequestObservation): void {
    if (o.node === null || o.status >= 400) return;
    const r = this.#ring(o.model);
    if (o.ttftS !== undefined && Number.isFinite(o.ttftS)) r.pendingTtft.push(o.ttftS);
    const gen = o.generationS ?? (o.ttftS !== undefined ? o.durationS - o.ttftS : undefined);
    // Like `cortex bench`: one or two tokens measure a chunk gap, not a speed.
    if (o.completionTokens !== undefined && o.completionTokens >= 8 && gen && gen > 0) {
      r.tokens += o.completionTokens - 1;
      r.genS += gen;
    }
  }

  #refreshState(): void {
    if (!this.#dirty && this.#stateJson) return;
    this.#dirty = false;
    const queue = Object.fromEntries(this.#src.queue.lengths());
    this.#stateJson = JSON.stringify({
      neurons: this.#src.fleet.neurons.map((n) => ({
        name: n.client.name,
        up: n.up,
        error: n.lastError,
        devices: n.devices.map((d) => deviceView(d, n)),
        models: n.models.filter((m) => m.state !== "available").map((m) => ({
          id: m.id,
          state: m.state,
          device: m.device,
          memory_bytes: m.memory_bytes,
          progress: m.progress,
          in_flight: m.in_flight,
          queued: m.queued,
          error: m.error,
          speculation: m.speculation ?? null,
        })),
      })),
      catalogue: this.#catalogueView(),
      queue,
    });
  }

  /**
   * The catalogue with what the neurons say on top: where each model is loading (the catalogue
   * leaves a model out while its only copy loads) and its requests in flight.
   */
  #catalogueView() {
    const loading = new Map<string, string[]>();
    const inFlight = new Map<string, number>();
    for (const n of this.#src.fleet.neurons) {
      for (const m of n.models) {
        if (m.state === "loading") loading.set(m.id, [...loading.get(m.id) ?? [], n.client.name]);
        if (m.in_flight) inFlight.set(m.id, (inFlight.get(m.id) ?? 0) + m.in_flight);
      }
    }
    const rows = this.#src.catalogue.list().map((e) => ({
      id: e.id,
      loaded_on: e.loadedOn,
      loading_on: loading.get(e.id) ?? [],
      available_on: e.storedOn,
      in_flight: inFlight.get(e.id) ?? 0,
    }));
    const listed = new Set(rows.map((r) => r.id));
    for (const [id, nodes] of loading) {
      if (listed.has(id)) continue;
      rows.push({ id, loaded_on: [], loading_on: nodes, available_on: nodes, in_flight: 0 });
    }
    return rows.sort((a, b) => a.id.localeCompare(b.id));
  }

  #series(): Series {
    const n = this.#opts.points;
    const order: number[] = [];
    for (let i = 0; i < this.#count; i++) order.push((this.#head - this.#count + i + n) % n);
    const models: Series["models"] = {};
    for (const [id, r] of this.#rings) {
      models[id] = {
        ttft_p50: order.map((i) => num(r.ttft[i])),
        tps: order.map((i) => num(r.tps[i])),
        in_flight: order.map((i) => r.inFlight[i]),
      };
    }
    return { t: order.map((i) => this.#times[i]), models };
  }
}

function deviceView(d: Device, n: NeuronState) {
  return {
    name: d.name,
    state: d.state,
    total: d.memory_total_bytes,
    free: d.memory_free_bytes,
    used: d.memory_used_bytes,
    budget: d.memory_budget_bytes,
    models: n.models
      .filter((m) => m.device === d.name && (m.state === "loaded" || m.state === "loading"))
      .map((m) => ({ id: m.id, bytes: m.memory_bytes ?? 0 })),
  };
}

/** No point of the ring holds data: a model gone from the catalogue can be forgotten. */
function isEmpty(r: Ring): boolean {
  for (let i = 0; i < r.ttft.length; i++) {
    if (Number.isFinite(r.ttft[i]) || Number.isFinite(r.tps[i]) || r.inFlight[i] > 0) return false;
  }
  return true;
}

const num = (x: number): number | null => Number.isFinite(x) ? Math.round(x * 100) / 100 : null;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}
