/**
 * Getting a model onto a neuron: route to a holder, or place it, make room
 * by unloading victims, and call `/models/load` exactly once per model at a
 * time — concurrent requests for a cold model wait on the same load. A model
 * that cannot be placed yet because the models holding its room are busy
 * (or loading) waits in the swap queue (swap_queue.ts) instead of failing.
 */

import { AffinityTable } from "./affinity.ts";
import { HttpError } from "../core/errors.ts";
import { createLogger } from "../core/log.ts";
import type { NeuronModel } from "../core/neuron/schemas.ts";
import type { CatalogueEntry } from "./catalogue.ts";
import { sourceMatches } from "./catalogue.ts";
import type { Catalogue } from "./catalogue.ts";
import type { Fleet, NeuronState } from "./fleet.ts";
import type { GatewayMetrics } from "./metrics.ts";
import { NeuronCallError } from "./neuron_client.ts";
import {
  type EvictionStrategy,
  planPlacement,
  rankHolders,
  requiredBytes,
  type ResidentFacts,
} from "./placement.ts";
import { SwapQueue, type Waiter } from "./swap_queue.ts";
import type { UsageTracker } from "./usage.ts";

export interface LifecycleOptions {
  strategy: EvictionStrategy;
  /** How long a request waits for a cold load before a 503. */
  loadTimeoutMs: number;
  /** Longest wait in the swap queue before a 503 with Retry-After; 0 = no queue (503 at once). */
  queueTimeoutMs?: number;
  /** A claimed resident model keeps admitting new requests this long (collation), ms. */
  maxWaitMs?: number;
  /** … and at most this many. */
  maxBatch?: number;
  /** A model the gateway loaded is not a victim for this long, ms. */
  minResidencyMs?: number;
}

/** Queue defaults (cortex.toml `[queue]`). */
export const QUEUE_DEFAULTS = {
  queueTimeoutMs: 120_000,
  maxWaitMs: 10_000,
  maxBatch: 16,
  minResidencyMs: 0,
} as const;

/** What one placement attempt came to: loaded, or a reason to wait. */
type Attempt =
  | { kind: "loaded"; neuron: NeuronState }
  | {
    kind: "blocked";
    reason: string;
    /** neuron/device the wait plan needs, null when unknown (loading elsewhere). */
    room: string | null;
    neuron: string | null;
    /** Busy residents that must drain first. */
    busy: string[];
  };

const factKey = (neuron: string, model: string) => `${neuron}\u0000${model}`;

/**
 * Memory to plan for a profile. Neurons estimate store files at their own
 * default context and slots; a profile asking for other values is rescaled
 * by the model's KV cost per token, so placement and the neuron agree. A
 * profile's draft model adds its weights, compute buffers and a KV cache for the same cells.
 */
/**
 * Bytes of loads under way that may land on a device. Loads reserve per room: `neuron/device`,
 * or `neuron/A+B` for a split, whose shares only the neuron plans: until it is loaded its whole
 * need counts on each of its devices, so a concurrent placement waits for it instead of planning
 * on the same free memory.
 */
export function pendingOn(
  pending: ReadonlyMap<string, number>,
  neuron: string,
  device: string,
): number {
  let sum = 0;
  for (const [room, bytes] of pending) {
    const slash = room.indexOf("/");
    if (room.slice(0, slash) === neuron && room.slice(slash + 1).split("+").includes(device)) {
      sum += bytes;
    }
  }
  return sum;
}

export function profileBytes(
  profile: CatalogueEntry["profile"],
  stored: readonly NeuronModel[],
  draftStored: readonly NeuronModel[] = [],
): number | null {
  const base = requiredBytes(profile, stored);
  if (base === null || profile.vram_mb !== undefined) return base;
  const rescale = profile.context_length !== undefined || profile.parallel !== undefined;
  let scaled: number | null = null;
  let cells = 0;
  for (const m of stored) {
    if (m.memory_bytes === null || m.kv_bytes_per_token === null || !m.context || !m.slots) {
      continue;
    }
    const ctx = rescale
      ? Math.min(profile.context_length ?? m.context, m.context_length ?? Infinity)
      : m.context;
    const slots = rescale ? profile.parallel ?? m.slots : m.slots;
    const bytes = m.memory_bytes + m.kv_bytes_per_token * (ctx * slots - m.context * m.slots);
    if (bytes > (scaled ?? -Infinity)) {
      scaled = bytes;
      cells = ctx * slots;
    }
  }
  let draft = 0;
  for (const d of draftStored) {
    const kv = d.kv_bytes_per_token ?? 0;
    // Its weights and compute buffers (its estimate less its own KV cache; the compute buffer
    // scales with its vocabulary and can be a third of a small draft), then its cache.
    const fixed = d.memory_bytes !== null && d.context && d.slots
      ? d.memory_bytes - kv * d.context * d.slots
      : d.size_bytes;
    draft = Math.max(draft, fixed + kv * cells);
  }
  return (rescale ? scaled ?? base : base) + draft;
}

/** 503 with a Retry-After: the model is coming, or capacity may free up. */
export class RetryLaterError extends HttpError {
  constructor(message: string, readonly retryAfterS: number, code = "model_loading") {
    super(503, message, { code });
  }
}

export class Lifecycle {
  readonly #fleet: Fleet;
  readonly #catalogue: Catalogue;
  readonly #usage: UsageTracker;
  readonly #metrics: GatewayMetrics;
  readonly #opts: LifecycleOptions;
  /** model id → the load in progress (single flight). */
  readonly #loads = new Map<string, Promise<Attempt>>();
  /** neuron/device → bytes of loads under way there (not yet in the polled free memory). */
  readonly #pending = new Map<string, number>();
  /** (neuron, model) → when the gateway loaded it (epoch ms), for min_residency. */
  readonly #loadedAt = new Map<string, number>();
  readonly queue: SwapQueue;
  /** Which neuron served each conversation last (its prefix is cached there). */
  readonly affinity = new AffinityTable();
  /** model id → unloads of it in progress (any neuron). */
  readonly #unloading = new Map<string, Set<Promise<void>>>();
  /** model id → who wants load progress (admin loads, `cortex load`). */
  readonly #progress = new Map<string, Set<(f: number) => void>>();
  /** neuron → load/unload cycles since its last defragmenting reload. */
  readonly cycles = new Map<string, number>();
  #log = createLogger("lifecycle");

  constructor(
    fleet: Fleet,
    catalogue: Catalogue,
    usage: UsageTracker,
    metrics: GatewayMetrics,
    opts: LifecycleOptions,
  ) {
    this.#fleet = fleet;
    this.#catalogue = catalogue;
    this.#usage = usage;
    this.#metrics = metrics;
    this.#opts = opts;
    this.queue = new SwapQueue({
      maxWaitMs: opts.maxWaitMs ?? QUEUE_DEFAULTS.maxWaitMs,
      maxBatch: opts.maxBatch ?? QUEUE_DEFAULTS.maxBatch,
    });
    // The gateway sees a model go idle before any poll does; the poll's counts are split into
    // the gateway's own and others' (Fleet), and answered requests keep a neuron up.
    fleet.useTraffic(usage);
    usage.onEnd(() => this.queue.notify());
    fleet.onChange(() => this.queue.notify());
    metrics.setQueueSource(() => this.queue.lengths());
    metrics.onObserved((o) => {
      if (o.node && o.status < 500 && o.status !== 499 && !o.errorKind) usage.answered(o.node);
    });
  }

  get #queueTimeoutMs(): number {
    return this.#opts.queueTimeoutMs ?? QUEUE_DEFAULTS.queueTimeoutMs;
  }

  /** Whether a request for this model would have to wait (a load, or its turn in the queue). */
  isCold(entry: CatalogueEntry, exclude?: ReadonlySet<string>): boolean {
    return !this.#holders(entry.id, exclude).some((h) => !this.queue.isClosed(h.neuron, entry.id));
  }

  /**
   * The neuron to send a request to: the least loaded holder, or one where
   * the model is loaded now. A model that cannot be placed yet waits in the
   * queue (at most queue_timeout); a load under way is waited for at most
   * load_timeout. The returned neuron is reserved for the caller's request
   * (UsageTracker.reserve) so no placement sees the model idle before it starts.
   */
  async acquire(
    entry: CatalogueEntry,
    exclude?: ReadonlySet<string>,
    onProgress?: (f: number) => void,
    /** Stops the wait (not the load, which others may share) with the signal's reason. */
    signal?: AbortSignal,
    /** The conversation it continues: served where its cache is, when that neuron may take it. */
    key?: () => string | null,
  ): Promise<{ neuron: NeuronState; cold: boolean }> {
    const warm = this.#route(entry.id, exclude, key);
    if (warm) return { neuron: warm, cold: false };
    if (onProgress) {
      const set = this.#progress.get(entry.id) ?? new Set();
      set.add(onProgress);
      this.#progress.set(entry.id, set);
    }
    const t0 = performance.now();
    const deadline = t0 + this.#queueTimeoutMs;
    let waiter: Waiter | null = null;
    let outcome: "served" | "timeout" | "failed" = "failed";
    try {
      while (true) {
        if (signal?.aborted) throw signal.reason;
        let blocked: Extract<Attempt, { kind: "blocked" }> | null = null;
        // Resident but closed to new requests (it drains for a waiting model): wait, no copy.
        if (!this.#holders(entry.id, exclude).length) {
          const attempt = await this.#awaitLoad(entry, exclude, signal);
          if (attempt.kind === "loaded") {
            // The requests the load was for are its queue: served there, gate or not.
            this.#usage.reserve(attempt.neuron.client.name, entry.id);
            outcome = "served";
            return { neuron: attempt.neuron, cold: true };
          }
          blocked = attempt;
        }
        const now = this.#route(entry.id, exclude, key);
        if (now) {
          outcome = "served";
          return { neuron: now, cold: true };
        }
        if (this.#queueTimeoutMs === 0) {
          throw new RetryLaterError(blocked?.reason ?? `${entry.id} is busy`, 5, "no_capacity");
        }
        waiter ??= this.queue.join(entry.id, entry.profile.residency_priority, signal);
        if (blocked) {
          this.queue.setRoom(entry.id, blocked.room);
          for (const model of blocked.busy) {
            const p = this.#catalogue.declared(model)?.residency_priority ?? 0;
            this.queue.claim(blocked.neuron!, model, p, waiter);
          }
        }
        const left = deadline - performance.now();
        if (left <= 0) {
          outcome = "timeout";
          this.#metrics.queueTimeout(entry.id);
          throw new RetryLaterError(
            `${entry.id} waited ${
              Math.round(this.#queueTimeoutMs / 1000)
            } s (queue_timeout) for room: ${blocked?.reason ?? "its resident copy is draining"}`,
            Math.max(1, Math.ceil(this.#queueTimeoutMs / 4000)),
            "queue_timeout",
          );
        }
        await this.queue.changed(left, signal);
      }
    } finally {
      if (waiter) {
        this.queue.leave(waiter);
        this.#metrics.queueWait(entry.id, (performance.now() - t0) / 1000, outcome);
      }
      if (onProgress) this.#progress.get(entry.id)?.delete(onProgress);
    }
  }

  #holders(model: string, exclude?: ReadonlySet<string>) {
    return rankHolders(model, this.#fleet.snapshot(), this.#usage.inFlight, exclude)
      .filter((h) => !this.#usage.isEvicting(h.neuron, model));
  }

  /** An admissible holder, reserved for the caller; null when none. */
  #route(
    model: string,
    exclude?: ReadonlySet<string>,
    key?: () => string | null,
  ): NeuronState | null {
    const holders = this.#holders(model, exclude);
    // The neuron that served this conversation holds its prefix in a slot: it goes first. With
    // one holder there is no choice to make, and no conversation to name.
    const conversation = holders.length > 1 ? key?.() ?? null : null;
    const home = this.affinity.pick(conversation, holders.map((h) => h.neuron));
    if (home) holders.sort((a, b) => Number(b.neuron === home) - Number(a.neuron === home));
    for (const h of holders) {
      if (!this.queue.admit(h.neuron, model)) continue;
      this.#usage.reserve(h.neuron, model);
      this.affinity.record(conversation, h.neuron);
      return this.#fleet.get(h.neuron)!;
    }
    return null;
  }

  /** The model's placement attempt (shared by its waiters), within load_timeout. */
  async #awaitLoad(
    entry: CatalogueEntry,
    exclude: ReadonlySet<string> | undefined,
    signal: AbortSignal | undefined,
  ): Promise<Attempt> {
    let load = this.#loads.get(entry.id);
    if (!load) {
      load = this.#coldLoad(entry, exclude).finally(() => this.#loads.delete(entry.id));
      this.#loads.set(entry.id, load);
    }
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () =>
          reject(
            new RetryLaterError(
              `${entry.id} is still loading after ${Math.round(this.#opts.loadTimeoutMs / 1000)} s`,
              10,
            ),
          ),
        this.#opts.loadTimeoutMs,
      );
    });
    let onAbort: (() => void) | undefined;
    const aborted = new Promise<never>((_, reject) => {
      if (!signal) return;
      onAbort = () => reject(signal.reason);
      if (signal.aborted) onAbort();
      else signal.addEventListener("abort", onAbort, { once: true });
    });
    try {
      return await Promise.race([load, timeout, aborted]);
    } finally {
      clearTimeout(timer);
      if (onAbort) signal?.removeEventListener("abort", onAbort);
    }
  }

  /** Resident models as placement sees them, with the gateway's own facts. */
  residents(): ResidentFacts[] {
    const out: ResidentFacts[] = [];
    const now = Date.now();
    const minResidency = this.#opts.minResidencyMs ?? QUEUE_DEFAULTS.minResidencyMs;
    for (const n of this.#fleet.neurons) {
      const name = n.client.name;
      for (const m of n.models) {
        if (m.state !== "loaded") continue;
        const profile = this.#catalogue.declared(m.id);
        // Just loaded, or its own queue is about to be served: not a victim yet.
        const held = (this.#loadedAt.get(factKey(name, m.id)) ?? 0) + minResidency > now ||
          (this.queue.length(m.id) > 0 && !this.queue.isClosed(name, m.id));
        out.push({
          neuron: name,
          model: m.id,
          lastUsedMs: this.#usage.lastUsed(name, m.id),
          inFlight: this.#usage.inFlight(name, m.id),
          outside: n.outside.get(m.id) ?? 0,
          held,
          priority: profile?.residency_priority ?? 0,
          pinned: profile?.pinned === true,
          idleTtlMs: this.#usage.keepAlive(name, m.id),
        });
      }
    }
    return out;
  }

  /** The fleet as placement should see it: loads under way take their memory already. */
  #planSnapshot(exclude?: ReadonlySet<string>) {
    return this.#fleet.snapshot().filter((n) => !exclude?.has(n.name)).map((n) => ({
      ...n,
      devices: n.devices.map((d) => {
        const pending = pendingOn(this.#pending, n.name, d.name);
        return pending
          ? { ...d, memory_free_bytes: Math.max(0, d.memory_free_bytes - pending) }
          : d;
      }),
      // Models on their way out are no victims twice; their memory frees when the unload ends
      // (until then they count as memory in transit, like a load).
      models: n.models.map((m) =>
        m.state === "loaded" && this.#usage.isEvicting(n.name, m.id)
          ? { ...m, state: "loading" as const }
          : m
      ),
    }));
  }

  /**
   * One placement attempt: load where it fits or where idle victims make
   * room, else say what to wait for. Everything from reading the fleet to
   * marking the victims and the pending memory runs without an await, so two
   * attempts never plan on the same free memory.
   */
  async #coldLoad(entry: CatalogueEntry, exclude?: ReadonlySet<string>): Promise<Attempt> {
    for (const unloading of [...this.#unloading.get(entry.id) ?? []]) await unloading;
    const snapshot = this.#planSnapshot(exclude);
    const pins = entry.profile.pinned_on;
    // Excluded neurons are those a request just failed to reach: down too, as far as it knows.
    const allowedDown = this.#fleet.neurons.some((n) =>
      (!n.up || exclude?.has(n.client.name)) && (!pins.length || pins.includes(n.client.name))
    );
    const stored = snapshot.flatMap((n) =>
      n.up
        ? n.models.filter((m) =>
          m.state === "available" && sourceMatches(entry.profile.source, m.source)
        )
        : []
    );
    // A draft is a store id; it loads on the target's neuron, so only neurons holding both count.
    const draftId = entry.profile.draft?.replace(/\.gguf$/i, "");
    const draftsOn = (n: { models: readonly NeuronModel[] }) =>
      draftId === undefined
        ? []
        : n.models.filter((m) => m.state === "available" && m.source === draftId);
    const draftStored = snapshot.flatMap((n) => n.up ? draftsOn(n) : []);
    const need = profileBytes(entry.profile, stored, draftStored);
    if (need === null) {
      if (allowedDown) {
        // Known, and its neuron is down or restarting: it may be back soon.
        throw new RetryLaterError(
          `${entry.id} is on a neuron that is down or restarting; no live neuron can load it now`,
          5,
          "model_unavailable",
        );
      }
      throw new HttpError(
        503,
        `no live neuron has ${entry.profile.source} in its model store (cortex pull it first)`,
        { code: "model_unavailable" },
      );
    }
    const withFile = snapshot.map((n) => ({
      ...n,
      up: n.up &&
        n.models.some((m) =>
          m.state === "available" && sourceMatches(entry.profile.source, m.source)
        ) && (draftId === undefined || draftsOn(n).length > 0),
    }));
    if (draftId !== undefined && !withFile.some((n) => n.up)) {
      // Else the load would fail on the neuron (404 draft) and reach the caller as a 502.
      if (allowedDown) {
        throw new RetryLaterError(
          `${entry.id}'s draft model may be on a neuron that is down or restarting`,
          5,
          "model_unavailable",
        );
      }
      throw new HttpError(
        503,
        `no live neuron has ${entry.id}'s draft model ${draftId} (models.toml \`draft\`) in its ` +
          `model store beside ${entry.profile.source} (cortex pull it first, or fix \`draft\`)`,
        { code: "model_unavailable" },
      );
    }
    const input = {
      profile: entry.profile,
      needBytes: need,
      snapshot: withFile,
      residents: this.residents(),
      strategy: this.#opts.strategy,
    };
    const plan = planPlacement(input);
    if (plan.kind === "none") {
      if (plan.code === "busy") {
        const wait = planPlacement({ ...input, includeBusy: true });
        if (wait.kind === "evict") {
          return {
            kind: "blocked",
            reason: plan.reason,
            room: `${wait.neuron}/${wait.device}`,
            neuron: wait.neuron,
            busy: wait.victims.filter((v) => v.busy).map((v) => v.model),
          };
        }
      }
      // Too large for what is free and resident now, yet within a budget: memory in transit.
      const transient = plan.code === "too_large" &&
        withFile.some((n) =>
          n.up && (!pins.length || pins.includes(n.name)) &&
          (n.devices.some((d) =>
            d.state === "ok" && !d.remote && (d.memory_budget_bytes ?? d.memory_total_bytes) >= need
          ) ||
            // Or its devices together, split.
            n.devices.filter((d) => d.state === "ok").reduce(
                (x, d) => x + (d.memory_budget_bytes ?? d.memory_total_bytes),
                0,
              ) >= need)
        );
      // Unloads or loads under way change what is free: look again once they end.
      const inTransit = this.#pending.size > 0 || this.#unloading.size > 0;
      if (plan.code === "busy" || plan.code === "loading" || transient || inTransit) {
        return { kind: "blocked", reason: plan.reason, room: null, neuron: null, busy: [] };
      }
      if (plan.code === "too_large" && !allowedDown) {
        // Permanent while the budgets stay: retrying cannot help, so not a 5xx.
        throw new HttpError(400, plan.reason, { param: "model", code: "model_too_large" });
      }
      if (
        allowedDown || plan.code === "all_down" || plan.code === "pinned_down" ||
        plan.code === "no_device"
      ) {
        throw new RetryLaterError(plan.reason, 5, "no_capacity");
      }
      throw new HttpError(503, plan.reason, { code: "no_capacity" });
    }
    const room = `${plan.neuron}/${plan.device}`;
    if (
      plan.kind === "evict" && this.#queueTimeoutMs > 0 &&
      this.queue.behindOther(entry.id, entry.profile.residency_priority, room)
    ) {
      return {
        kind: "blocked",
        reason: `${entry.id} waits its turn for ${room} behind a model queued earlier`,
        room,
        neuron: null,
        busy: [],
      };
    }
    const neuron = this.#fleet.get(plan.neuron)!;
    this.#pending.set(room, (this.#pending.get(room) ?? 0) + need);
    try {
      if (plan.kind === "evict") {
        const evictions = plan.victims.map((v) => this.#evict(neuron, v.model, "capacity"));
        await Promise.all(evictions);
        this.#metrics.swap(plan.neuron);
      }
      const file = neuron.models.find((m) =>
        m.state === "available" && sourceMatches(entry.profile.source, m.source)
      )!;
      // A split: the neuron plans its layers over its devices (no device named).
      await this.#load(neuron, entry, file, plan.split ? undefined : plan.device);
    } finally {
      const left = (this.#pending.get(room) ?? 0) - need;
      if (left > 0) this.#pending.set(room, left);
      else this.#pending.delete(room);
      this.queue.notify();
    }
    return { kind: "loaded", neuron };
  }

  async #load(neuron: NeuronState, entry: CatalogueEntry, file: NeuronModel, device?: string) {
    const p = entry.profile;
    const t0 = performance.now();
    this.#log.info("loading", { model: entry.id, neuron: neuron.client.name, device });
    const req = {
      model: entry.id,
      source: file.source,
      ...(device && !p.split && !p.devices ? { device } : {}),
      ...(p.context_length ? { context: p.context_length } : {}),
      ...(p.parallel ? { slots: p.parallel } : {}),
      ...(p.kv_cache_type ? { kv_cache_type: p.kv_cache_type } : {}),
      ...(p.embeddings ? { embeddings: true } : {}),
      ...(p.draft ? { draft: p.draft } : {}),
      ...(p.speculative ? { speculative: p.speculative } : {}),
      ...(p.draft_max ? { draft_max: p.draft_max } : {}),
      ...(p.draft_min_p !== undefined ? { draft_min_p: p.draft_min_p } : {}),
      // A split the profile asks for: the neuron places the layers (device names none).
      ...(p.split ? { split: p.split } : {}),
      ...(p.devices ? { devices: p.devices } : {}),
      ...(p.tensor_split ? { tensor_split: p.tensor_split } : {}),
    };
    try {
      const listeners = this.#progress.get(entry.id);
      if (listeners?.size) {
        await neuron.client.loadWithProgress(req, (f) => {
          for (const fn of this.#progress.get(entry.id) ?? []) fn(f);
        });
      } else {
        await neuron.client.load(req);
      }
    } catch (e) {
      await this.#fleet.refresh(neuron.client.name);
      if (e instanceof NeuronCallError) {
        if (e.status === 0) this.#fleet.markDown(neuron.client.name, e.message);
        throw new HttpError(
          e.status === 507 || e.status === 0 ? 503 : 502,
          `loading ${entry.id} on ${e.neuron} failed: ${e.message}`,
          {
            code: "load_failed",
          },
        );
      }
      throw e;
    }
    this.#bump(neuron.client.name);
    this.#metrics.coldStart(entry.id, neuron.client.name);
    this.#markLoaded(neuron.client.name, entry.id);
    this.#usage.touch(neuron.client.name, entry.id);
    await this.#fleet.refresh(neuron.client.name);
    this.#catalogue.rebuild();
    this.#log.info("loaded", {
      model: entry.id,
      neuron: neuron.client.name,
      seconds: ((performance.now() - t0) / 1000).toFixed(2),
    });
  }

  /** Unloads one model from one neuron, never while the gateway has requests on it. */
  async #evict(neuron: NeuronState, model: string, reason: "capacity" | "idle" | "defrag") {
    const name = neuron.client.name;
    await this.#unloadTracked(name, model, async () => {
      this.#log.info("evicting", { model, neuron: name, reason });
      await neuron.client.unload(model);
      this.#metrics.eviction(model, name, reason);
    });
  }

  /**
   * Runs an unload with no new requests routed to the model there meanwhile.
   * A cold load of the same model waits for it: the neuron would refuse to
   * load a key it is still releasing.
   */
  async #unloadTracked(name: string, model: string, unload: () => Promise<void>): Promise<void> {
    this.#usage.setEvicting(name, model, true);
    const run = (async () => {
      try {
        await unload();
        this.#bump(name);
      } finally {
        // Routable again only once the fleet view no longer lists it as loaded there.
        await this.#fleet.refresh(name);
        this.#usage.forget(name, model);
        this.#loadedAt.delete(factKey(name, model));
        this.queue.release(name, model);
        this.#catalogue.rebuild();
        this.queue.notify();
      }
    })();
    const settled = run.then(() => {}, () => {});
    const pending = this.#unloading.get(model) ?? new Set();
    this.#unloading.set(model, pending.add(settled));
    try {
      await run;
    } finally {
      pending.delete(settled);
      if (!pending.size) this.#unloading.delete(model);
    }
  }

  /** Starts the model's min_residency; waiters look again when it ends. */
  #markLoaded(neuron: string, model: string): void {
    this.#loadedAt.set(factKey(neuron, model), Date.now());
    const ms = this.#opts.minResidencyMs ?? QUEUE_DEFAULTS.minResidencyMs;
    if (ms > 0) Deno.unrefTimer(setTimeout(() => this.queue.notify(), ms + 1));
  }

  #bump(neuron: string) {
    this.cycles.set(neuron, (this.cycles.get(neuron) ?? 0) + 1);
  }

  /** Unloads a model chosen by the evictor (idle TTL). Skips it if a request arrived since. */
  async evictIdle(neuronName: string, model: string): Promise<boolean> {
    const neuron = this.#fleet.get(neuronName);
    if (!neuron || this.#usage.inFlight(neuronName, model) > 0) return false;
    await this.#evict(neuron, model, "idle");
    return true;
  }

  /**
   * Reloads every model of an idle neuron so its memory is one piece again
   * (after defrag_after_cycles load/unload cycles).
   */
  async defrag(neuronName: string): Promise<void> {
    const neuron = this.#fleet.get(neuronName);
    if (!neuron || this.#usage.neuronInFlight(neuronName) > 0) return;
    const resident = neuron.models.filter((m) => m.state === "loaded");
    this.#log.info("defragmenting", { neuron: neuronName, models: resident.length });
    for (const m of resident) {
      if (this.#usage.inFlight(neuronName, m.id) > 0) continue;
      await this.#evict(neuron, m.id, "defrag");
      await neuron.client.load({
        model: m.id,
        source: m.source,
        ...(m.device ? { device: m.device } : {}),
        ...(m.context ? { context: m.context } : {}),
        ...(m.slots ? { slots: m.slots } : {}),
        ...(m.kv_cache_type ? { kv_cache_type: m.kv_cache_type } : {}),
        ...(m.embeddings ? { embeddings: true } : {}),
        ...(m.speculation
          ? {
            speculative: m.speculation.mode,
            ...(m.speculation.draft ? { draft: m.speculation.draft } : {}),
            draft_max: m.speculation.draft_max,
            draft_min_p: m.speculation.draft_min_p,
          }
          : {}),
      });
    }
    this.cycles.set(neuronName, 0);
    await this.#fleet.refresh(neuronName);
    this.#catalogue.rebuild();
  }

  /** Explicit load (admin API / `cortex load`), on a chosen neuron or where placement says. */
  async load(
    entry: CatalogueEntry,
    node?: string,
    onProgress?: (f: number) => void,
  ): Promise<NeuronState> {
    if (!node) return (await this.acquire(entry, undefined, onProgress)).neuron;
    const neuron = this.#fleet.get(node);
    if (!neuron) {
      throw new HttpError(404, `no neuron named ${node}`, { param: "node", code: "not_found" });
    }
    if (!neuron.up) throw new HttpError(503, `neuron ${node} is down`, { code: "neuron_down" });
    const pins = entry.profile.pinned_on;
    if (pins.length && !pins.includes(node)) {
      throw new HttpError(409, `${entry.id} is pinned_on ${pins.join(", ")}; ${node} is not one`, {
        param: "node",
        code: "pinned_elsewhere",
      });
    }
    if (neuron.models.some((m) => m.id === entry.id && m.state === "loaded")) return neuron;
    const file = neuron.models.find((m) =>
      m.state === "available" && sourceMatches(entry.profile.source, m.source)
    );
    if (!file) {
      throw new HttpError(404, `${node} has no ${entry.profile.source} in its store`, {
        param: "model",
        code: "model_not_found",
      });
    }
    if (onProgress) this.#progress.set(entry.id, new Set([onProgress]));
    try {
      await this.#load(neuron, entry, file);
    } finally {
      if (onProgress) this.#progress.delete(entry.id);
    }
    return neuron;
  }

  /** Explicit unload from one neuron or from all that hold it; returns the neurons. */
  async unload(model: string, node?: string): Promise<string[]> {
    const targets = this.#fleet.neurons.filter((n) =>
      (!node || n.client.name === node) && n.up &&
      n.models.some((m) => m.id === model && (m.state === "loaded" || m.state === "loading"))
    );
    if (!targets.length) {
      throw new HttpError(404, `${model} is not loaded${node ? ` on ${node}` : ""}`, {
        param: "model",
        code: "model_not_found",
      });
    }
    for (const n of targets) {
      await this.#unloadTracked(n.client.name, model, () => n.client.unload(model));
    }
    return targets.map((n) => n.client.name);
  }
}
