/**
 * The gateway's Prometheus metrics on its own registry (never prom-client's
 * default one). Request metrics are recorded on the proxy's hot path through
 * cached label children; fleet gauges are read from the poller's snapshot at
 * scrape time.
 *
 * Label values are bounded: `model` only takes ids the gateway registered
 * (aliases resolve to their canonical id, anything else is "unknown"), `node`
 * only registered neuron names, `endpoint` and error `kind` come from fixed
 * lists and `status` is an exact code from a fixed set or its class ("5xx").
 * The metric names are what existing dashboards query: keep them.
 */

import { Counter, Gauge, Histogram, Registry } from "prom-client";
import type { FleetSnapshot } from "./placement.ts";
import type { SpeculationState } from "../core/neuron/schemas.ts";

export const ENDPOINTS = [
  "chat",
  "completions",
  "embeddings",
  "messages",
  "responses",
  "count_tokens",
  "models",
  "other",
] as const;
export type Endpoint = typeof ENDPOINTS[number];

export const EVICTION_REASONS = ["capacity", "idle", "defrag"] as const;
export type EvictionReason = typeof EVICTION_REASONS[number];

/** Why a request failed; the proxy may name one, otherwise it follows from the status. */
export const ERROR_KINDS = [
  /** 4xx the client's request caused (bad input, unknown model, too large). */
  "client_error",
  /** 401 / 403. */
  "auth",
  /** 429. */
  "rate_limited",
  /** The client went away before the response ended (499). */
  "client_closed",
  /** 408 / 504, or an upstream that stopped answering. */
  "timeout",
  /** Placement found no room, or no neuron is up (503). */
  "no_capacity",
  /** The cold load this request waited on failed. */
  "load_failed",
  /** The neuron could not be reached. */
  "upstream_unreachable",
  /** The neuron answered with an error or broke the stream. */
  "upstream_error",
  /** A gateway bug (500). */
  "internal",
] as const;
export type ErrorKind = typeof ERROR_KINDS[number];

/** Statuses that keep their exact code as a label; others collapse to their class. */
export const EXACT_STATUSES: readonly number[] = [
  200,
  400,
  401,
  403,
  404,
  408,
  409,
  413,
  422,
  429,
  499,
  500,
  502,
  503,
  504,
];

/** Time to first token: 5 ms … 60 s. */
export const TTFT_BUCKETS = [
  0.005,
  0.01,
  0.025,
  0.05,
  0.1,
  0.25,
  0.5,
  1,
  2.5,
  5,
  10,
  20,
  30,
  60,
];
/** Whole request: 10 ms … 10 min (long generations and cold loads included). */
export const DURATION_BUCKETS = [
  0.01,
  0.05,
  0.1,
  0.25,
  0.5,
  1,
  2.5,
  5,
  10,
  20,
  30,
  60,
  120,
  300,
  600,
];
/** Generation speed per request, tokens per second: 1 … 2000. */
export const TOKENS_PER_SECOND_BUCKETS = [
  1,
  2,
  5,
  10,
  20,
  30,
  50,
  75,
  100,
  150,
  200,
  300,
  500,
  1000,
  2000,
];

/** Time a request waited in the swap queue: 10 ms … 10 min, as a whole request's. */
export const QUEUE_WAIT_BUCKETS = DURATION_BUCKETS;

/** How a wait in the swap queue ended. */
export const QUEUE_OUTCOMES = ["served", "timeout", "failed"] as const;
export type QueueOutcome = typeof QUEUE_OUTCOMES[number];

export const UNKNOWN = "unknown";
/** `node` of a request that never reached a neuron (auth failure, no placement, …). */
export const NO_NODE = "none";

/** One finished (or failed) request, as the proxy reports it. */
export interface RequestObservation {
  /** What the client asked for; aliases resolve, unregistered names become "unknown". */
  model: string;
  /** The neuron that served it; null when none did. */
  node: string | null;
  endpoint: Endpoint;
  /** HTTP status sent to the client (499 when the client went away). */
  status: number;
  /** Seconds from request arrival to the end of the response. */
  durationS: number;
  /** Seconds from arrival to the first generated token (streams and non-streams alike). */
  ttftS?: number;
  promptTokens?: number;
  completionTokens?: number;
  /**
   * Seconds spent generating (first token to last), for tokens per second;
   * defaults to durationS − ttftS when ttftS is given.
   */
  generationS?: number;
  /** Set for failures the status does not tell (a stream broken after 200, an unreachable neuron). */
  errorKind?: ErrorKind;
}

/** A fleet change the gateway made, as the dashboard's event list shows it. */
export type FleetEvent =
  | { kind: "cold_load"; model: string; node: string }
  | { kind: "eviction"; model: string; node: string; reason: EvictionReason }
  | { kind: "swap"; node: string };

/** A model the gateway serves: its canonical id and the names that resolve to it. */
export type KnownModel = string | { id: string; aliases?: readonly string[] };

export interface GatewayMetricsOptions {
  models?: Iterable<KnownModel>;
  nodes?: Iterable<string>;
}

type FleetSource = () => FleetSnapshot | Promise<FleetSnapshot>;
type QueueSource = () => ReadonlyMap<string, number>;

type ReqLabels = "model" | "node" | "endpoint";

/** Cached children for one (model, node, endpoint). */
interface Series {
  labels: Record<ReqLabels, string>;
  duration: Histogram.Internal<ReqLabels>;
  ttft: Histogram.Internal<ReqLabels>;
  speed: Histogram.Internal<ReqLabels>;
  prompt: Counter.Internal;
  completion: Counter.Internal;
  /** status label → requests child */
  requests: Map<string, Counter.Internal>;
  /** status label → kind → errors child */
  errors: Map<string, Map<ErrorKind, Counter.Internal>>;
}

const STATUS_LABELS = new Map(EXACT_STATUSES.map((s) => [s, String(s)]));
const CLASS_LABELS = ["1xx", "2xx", "3xx", "4xx", "5xx"];

/** The `status` label of an HTTP status: exact when listed, else its class, else "unknown". */
export function statusLabel(status: number): string {
  const exact = STATUS_LABELS.get(status);
  if (exact !== undefined) return exact;
  if (Number.isInteger(status) && status >= 100 && status <= 599) {
    return CLASS_LABELS[Math.floor(status / 100) - 1];
  }
  return UNKNOWN;
}

/** The error kind a status implies when the proxy names none; null for success. */
export function errorKindOf(status: number): ErrorKind | null {
  if (!Number.isInteger(status) || status < 100 || status > 599) return "internal";
  if (status === 401 || status === 403) return "auth";
  if (status === 429) return "rate_limited";
  if (status === 499) return "client_closed";
  if (status === 408 || status === 504) return "timeout";
  if (status >= 400 && status < 500) return "client_error";
  if (status === 500) return "internal";
  if (status === 503) return "no_capacity";
  return status >= 500 ? "upstream_error" : null;
}

const ENDPOINT_SET: ReadonlySet<string> = new Set(ENDPOINTS);
const ERROR_KIND_SET: ReadonlySet<string> = new Set(ERROR_KINDS);
const EVICTION_SET: ReadonlySet<string> = new Set(EVICTION_REASONS);

function measured(v: number | undefined): v is number {
  return v !== undefined && Number.isFinite(v) && v >= 0;
}

export class GatewayMetrics {
  readonly registry = new Registry();

  readonly #requests: Counter<ReqLabels | "status">;
  readonly #errors: Counter<ReqLabels | "status" | "kind">;
  readonly #duration: Histogram<ReqLabels>;
  readonly #ttft: Histogram<ReqLabels>;
  readonly #speed: Histogram<ReqLabels>;
  readonly #prompt: Counter<ReqLabels>;
  readonly #completion: Counter<ReqLabels>;
  readonly #coldStarts: Counter<"model" | "node">;
  readonly #evictions: Counter<"model" | "node" | "reason">;
  readonly #queueWait: Histogram<"model" | "outcome">;
  readonly #queueTimeouts: Counter<"model">;
  readonly #swaps: Counter<"node">;
  #queue: QueueSource = () => new Map();
  #observers: ((o: RequestObservation) => void)[] = [];
  #fleetEvents: ((e: FleetEvent) => void)[] = [];

  /** Any accepted name (id or alias) → canonical id. */
  #models = new Map<string, string>();
  #nodes = new Set<string>();
  /** canonical model → node → endpoint → series */
  #series = new Map<string, Map<string, Map<Endpoint, Series>>>();
  #inFlight = new Map<string, number>();
  #waiting = new Map<string, number>();
  #fleet: FleetSource = () => [];

  constructor(options: GatewayMetricsOptions = {}) {
    const registers = [this.registry];
    const labelNames = ["model", "node", "endpoint"] as const;
    this.#requests = new Counter({
      name: "cortex_requests_total",
      help: "Requests answered, by model, neuron, endpoint and HTTP status.",
      labelNames: [...labelNames, "status"],
      registers,
    });
    this.#duration = new Histogram({
      name: "cortex_request_duration_seconds",
      help: "Time from request arrival to the end of the response.",
      labelNames,
      buckets: DURATION_BUCKETS,
      registers,
    });
    this.#ttft = new Histogram({
      name: "cortex_time_to_first_token_seconds",
      help: "Time from request arrival to the first generated token (cold loads included).",
      labelNames,
      buckets: TTFT_BUCKETS,
      registers,
    });
    this.#speed = new Histogram({
      name: "cortex_tokens_per_second",
      help: "Generation speed of each request: completion tokens over generation time.",
      labelNames,
      buckets: TOKENS_PER_SECOND_BUCKETS,
      registers,
    });
    this.#prompt = new Counter({
      name: "cortex_prompt_tokens_total",
      help: "Prompt tokens of answered requests.",
      labelNames,
      registers,
    });
    this.#completion = new Counter({
      name: "cortex_completion_tokens_total",
      help: "Tokens generated for answered requests.",
      labelNames,
      registers,
    });
    this.#errors = new Counter({
      name: "cortex_request_errors_total",
      help: "Failed requests, by HTTP status and kind of failure.",
      labelNames: [...labelNames, "status", "kind"],
      registers,
    });
    this.#coldStarts = new Counter({
      name: "cortex_cold_starts_total",
      help: "Models loaded on demand because a request found them loaded nowhere.",
      labelNames: ["model", "node"],
      registers,
    });
    this.#evictions = new Counter({
      name: "cortex_evictions_total",
      help: "Models unloaded by the gateway: to make room, for idleness or to defragment.",
      labelNames: ["model", "node", "reason"],
      registers,
    });

    this.#queueWait = new Histogram({
      name: "cortex_queue_wait_seconds",
      help:
        "Time requests waited in the gateway's swap queue for their model's room, by how the wait ended.",
      labelNames: ["model", "outcome"],
      buckets: QUEUE_WAIT_BUCKETS,
      registers,
    });
    this.#queueTimeouts = new Counter({
      name: "cortex_queue_timeouts_total",
      help: "Requests that waited queue_timeout in the swap queue and got a 503.",
      labelNames: ["model"],
      registers,
    });
    this.#swaps = new Counter({
      name: "cortex_swaps_total",
      help: "Loads that unloaded other models on the neuron to make room.",
      labelNames: ["node"],
      registers,
    });

    // collect() runs with the gauge as `this`; these reach back to the live state.
    const queue = () => this.#queue();
    const modelLabel = (id: string) => this.modelLabel(id);
    new Gauge({
      name: "cortex_queue_length",
      help: "Requests waiting in the gateway's swap queue, by the model they wait for.",
      labelNames: ["model"],
      registers,
      collect() {
        this.reset();
        for (const [model, n] of queue()) this.set({ model: modelLabel(model) }, n);
      },
    });
    const inFlight = this.#inFlight;
    const waiting = this.#waiting;
    const fleet = () => this.#fleet();
    new Gauge({
      name: "cortex_requests_in_flight",
      help: "Requests the gateway is handling now, by model.",
      labelNames: ["model"],
      registers,
      collect() {
        this.reset();
        for (const [model, n] of inFlight) this.set({ model }, n);
      },
    });
    new Gauge({
      name: "cortex_requests_queued",
      help: "Requests waiting: for a cold load at the gateway, or for a slot on a neuron.",
      labelNames: ["model"],
      registers,
      async collect() {
        this.reset();
        const queued = new Map(waiting);
        for (const n of await fleet()) {
          if (!n.up) continue;
          for (const m of n.models) {
            const model = modelLabel(m.id);
            queued.set(model, (queued.get(model) ?? 0) + m.queued);
          }
        }
        for (const [model, n] of queued) this.set({ model }, n);
      },
    });
    new Gauge({
      name: "cortex_neuron_up",
      help: "1 while a neuron answers the poller, 0 while it is marked down.",
      labelNames: ["node"],
      registers,
      async collect() {
        this.reset();
        for (const n of await fleet()) this.set({ node: n.name }, n.up ? 1 : 0);
      },
    });
    new Gauge({
      name: "cortex_device_memory_bytes",
      help:
        "Device memory of up neurons: total (the budget when set), free (after resident models) and used by models.",
      labelNames: ["node", "device", "kind"],
      registers,
      async collect() {
        this.reset();
        for (const n of await fleet()) {
          if (!n.up) continue;
          for (const d of n.devices) {
            const base = { node: n.name, device: d.name };
            this.set({ ...base, kind: "total" }, d.memory_budget_bytes ?? d.memory_total_bytes);
            this.set({ ...base, kind: "free" }, d.memory_free_bytes);
            this.set({ ...base, kind: "used" }, d.memory_used_bytes);
          }
        }
      },
    });

    // Speculative decoding, as each neuron counts it since the model's load (a reload
    // starts again from zero, which Prometheus' rate() reads as a counter reset).
    const drafts = (name: string, help: string, pick: (s: SpeculationState) => number) =>
      new Counter({
        name,
        help,
        labelNames: ["model", "node"],
        registers,
        async collect() {
          this.reset();
          for (const n of await fleet()) {
            if (!n.up) continue;
            for (const m of n.models) {
              if (!m.speculation) continue;
              this.inc({ model: modelLabel(m.id), node: n.name }, pick(m.speculation));
            }
          }
        },
      });
    drafts(
      "cortex_draft_tokens_total",
      "Tokens drafted for speculative decoding (prompt lookup or a draft model) and verified.",
      (s) => s.drafted_tokens,
    );
    drafts(
      "cortex_draft_accepted_tokens_total",
      "Drafted tokens the model accepted; accepted ÷ drafted is the acceptance rate.",
      (s) => s.accepted_tokens,
    );

    if (options.models) this.setKnownModels(options.models);
    if (options.nodes) this.setKnownNodes(options.nodes);
  }

  /**
   * Replaces the models `model` labels may name: canonical ids with their
   * aliases (the catalogue), plus bare ids of models loaded outside models.toml.
   */
  setKnownModels(models: Iterable<KnownModel>): void {
    const next = new Map<string, string>();
    for (const m of models) {
      if (typeof m === "string") {
        if (!next.has(m)) next.set(m, m);
        continue;
      }
      next.set(m.id, m.id);
      for (const a of m.aliases ?? []) next.set(a, m.id);
    }
    this.#models = next;
  }

  /** Replaces the neuron names `node` labels may take. */
  setKnownNodes(nodes: Iterable<string>): void {
    this.#nodes = new Set(nodes);
  }

  /** Where the fleet gauges read from at scrape time (the poller's current snapshot). */
  setFleetSource(source: FleetSource): void {
    this.#fleet = source;
  }

  /** The `model` label for a requested name: its canonical id, or "unknown". */
  modelLabel(name: string): string {
    return this.#models.get(name) ?? UNKNOWN;
  }

  /** The `node` label: a registered neuron, "none" for no neuron, else "unknown". */
  nodeLabel(node: string | null): string {
    if (node === null || node === "") return NO_NODE;
    return this.#nodes.has(node) ? node : UNKNOWN;
  }

  /** Where the queue-length gauge reads from at scrape time. */
  setQueueSource(source: QueueSource): void {
    this.#queue = source;
  }

  /** Called with every observed request (the gateway learns which neurons answer). */
  onObserved(fn: (o: RequestObservation) => void): void {
    this.#observers.push(fn);
  }

  /** Called with every cold load, swap and eviction (the dashboard's event list). */
  onFleetEvent(fn: (e: FleetEvent) => void): void {
    this.#fleetEvents.push(fn);
  }

  /** A request left the swap queue after `seconds`. */
  queueWait(model: string, seconds: number, outcome: QueueOutcome): void {
    if (!measured(seconds)) return;
    this.#queueWait.observe({ model: this.modelLabel(model), outcome }, seconds);
  }

  /** A request's queue_timeout passed. */
  queueTimeout(model: string): void {
    this.#queueTimeouts.inc({ model: this.modelLabel(model) });
  }

  /** A load on `node` unloaded other models first. */
  swap(node: string): void {
    this.#swaps.inc({ node: this.nodeLabel(node) });
    for (const fn of this.#fleetEvents) fn({ kind: "swap", node });
  }

  /** Records one finished request: count, latency, TTFT, tokens, speed and any error. */
  observeRequest(o: RequestObservation): void {
    for (const fn of this.#observers) fn(o);
    const s = this.#seriesFor(o.model, o.node, o.endpoint);
    const status = statusLabel(o.status);
    let requests = s.requests.get(status);
    if (requests === undefined) {
      requests = this.#requests.labels({ ...s.labels, status });
      s.requests.set(status, requests);
    }
    requests.inc();
    if (measured(o.durationS)) s.duration.observe(o.durationS);
    if (measured(o.ttftS)) s.ttft.observe(o.ttftS);
    if (measured(o.promptTokens)) s.prompt.inc(o.promptTokens);
    if (measured(o.completionTokens)) {
      s.completion.inc(o.completionTokens);
      const gen = o.generationS ??
        (o.ttftS !== undefined ? o.durationS - o.ttftS : undefined);
      if (measured(gen) && gen > 0 && o.completionTokens > 0) {
        s.speed.observe(o.completionTokens / gen);
      }
    }
    const kind = o.errorKind !== undefined && ERROR_KIND_SET.has(o.errorKind)
      ? o.errorKind
      : errorKindOf(o.status);
    if (kind === null) return;
    let byKind = s.errors.get(status);
    if (byKind === undefined) {
      byKind = new Map();
      s.errors.set(status, byKind);
    }
    let errors = byKind.get(kind);
    if (errors === undefined) {
      errors = this.#errors.labels({ ...s.labels, status, kind });
      byKind.set(kind, errors);
    }
    errors.inc();
  }

  /** Counts a request in flight for `model` until the returned release is called (once). */
  trackInFlight(model: string): () => void {
    return track(this.#inFlight, this.modelLabel(model));
  }

  /** Counts a request waiting at the gateway for `model`'s cold load, until released. */
  trackWaiting(model: string): () => void {
    return track(this.#waiting, this.modelLabel(model));
  }

  /** A model was loaded on demand on `node`. */
  coldStart(model: string, node: string): void {
    this.#coldStarts.inc({ model: this.modelLabel(model), node: this.nodeLabel(node) });
    for (const fn of this.#fleetEvents) fn({ kind: "cold_load", model, node });
  }

  /** The gateway unloaded `model` from `node`. */
  eviction(model: string, node: string, reason: EvictionReason): void {
    if (!EVICTION_SET.has(reason)) {
      throw new RangeError(`reason: expected one of ${EVICTION_REASONS.join(", ")}, got ${reason}`);
    }
    this.#evictions.inc({ model: this.modelLabel(model), node: this.nodeLabel(node), reason });
    for (const fn of this.#fleetEvents) fn({ kind: "eviction", model, node, reason });
  }

  /** The exposition text and its content type, for the metrics listener. */
  async render(): Promise<{ body: string; contentType: string }> {
    return { body: await this.registry.metrics(), contentType: this.registry.contentType };
  }

  #seriesFor(
    modelName: string,
    nodeName: string | null,
    endpointName: Endpoint,
  ): Series {
    const model = this.modelLabel(modelName);
    const node = this.nodeLabel(nodeName);
    const endpoint: Endpoint = ENDPOINT_SET.has(endpointName) ? endpointName : "other";
    let byNode = this.#series.get(model);
    if (byNode === undefined) {
      byNode = new Map();
      this.#series.set(model, byNode);
    }
    let byEndpoint = byNode.get(node);
    if (byEndpoint === undefined) {
      byEndpoint = new Map();
      byNode.set(node, byEndpoint);
    }
    let s = byEndpoint.get(endpoint);
    if (s === undefined) {
      const labels = { model, node, endpoint };
      s = {
        labels,
        duration: this.#duration.labels(labels),
        ttft: this.#ttft.labels(labels),
        speed: this.#speed.labels(labels),
        prompt: this.#prompt.labels(labels),
        completion: this.#completion.labels(labels),
        requests: new Map(),
        errors: new Map(),
      };
      byEndpoint.set(endpoint, s);
    }
    return s;
  }
}

function track(counts: Map<string, number>, model: string): () => void {
  counts.set(model, (counts.get(model) ?? 0) + 1);
  let done = false;
  return () => {
    if (done) return;
    done = true;
    counts.set(model, Math.max(0, (counts.get(model) ?? 0) - 1));
  };
}
