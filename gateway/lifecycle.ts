/**
 * Getting a model onto a neuron: route to a holder, or place it, make room
 * by unloading victims, and call `/models/load` exactly once per model at a
 * time — concurrent requests for a cold model wait on the same load.
 */

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
import type { UsageTracker } from "./usage.ts";

export interface LifecycleOptions {
  strategy: EvictionStrategy;
  /** How long a request waits for a cold load before a 503. */
  loadTimeoutMs: number;
}

/**
 * Memory to plan for a profile. Neurons estimate store files at their own
 * default context and slots; a profile asking for other values is rescaled
 * by the model's KV cost per token, so placement and the neuron agree.
 */
export function profileBytes(
  profile: CatalogueEntry["profile"],
  stored: readonly NeuronModel[],
): number | null {
  const base = requiredBytes(profile, stored);
  if (base === null || profile.vram_mb !== undefined) return base;
  if (profile.context_length === undefined && profile.parallel === undefined) return base;
  let scaled: number | null = null;
  for (const m of stored) {
    if (m.memory_bytes === null || m.kv_bytes_per_token === null || !m.context || !m.slots) {
      continue;
    }
    const ctx = Math.min(profile.context_length ?? m.context, m.context_length ?? Infinity);
    const slots = profile.parallel ?? m.slots;
    const bytes = m.memory_bytes + m.kv_bytes_per_token * (ctx * slots - m.context * m.slots);
    scaled = Math.max(scaled ?? 0, bytes);
  }
  return scaled ?? base;
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
  readonly #loads = new Map<string, Promise<NeuronState>>();
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
  }

  /** Whether a request for this model would have to wait for a load. */
  isCold(entry: CatalogueEntry, exclude?: ReadonlySet<string>): boolean {
    return this.#holders(entry.id, exclude).length === 0;
  }

  /**
   * The neuron to send a request to: the least loaded holder, or one where
   * the model is loaded now. Waits at most load_timeout for a cold load.
   */
  async acquire(
    entry: CatalogueEntry,
    exclude?: ReadonlySet<string>,
    onProgress?: (f: number) => void,
    /** Stops the wait (not the load, which others may share) with the signal's reason. */
    signal?: AbortSignal,
  ): Promise<{ neuron: NeuronState; cold: boolean }> {
    const holders = this.#holders(entry.id, exclude);
    if (holders.length) return { neuron: this.#fleet.get(holders[0].neuron)!, cold: false };
    if (onProgress) {
      const set = this.#progress.get(entry.id) ?? new Set();
      set.add(onProgress);
      this.#progress.set(entry.id, set);
    }
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
      return { neuron: await Promise.race([load, timeout, aborted]), cold: true };
    } finally {
      clearTimeout(timer);
      if (onAbort) signal?.removeEventListener("abort", onAbort);
      if (onProgress) this.#progress.get(entry.id)?.delete(onProgress);
    }
  }

  #holders(model: string, exclude?: ReadonlySet<string>) {
    return rankHolders(model, this.#fleet.snapshot(), this.#usage.inFlight, exclude)
      .filter((h) => !this.#usage.isEvicting(h.neuron, model));
  }

  /** Resident models as placement sees them, with the gateway's own facts. */
  residents(): ResidentFacts[] {
    const out: ResidentFacts[] = [];
    for (const n of this.#fleet.neurons) {
      for (const m of n.models) {
        if (m.state !== "loaded") continue;
        const profile = this.#catalogue.declared(m.id);
        out.push({
          neuron: n.client.name,
          model: m.id,
          lastUsedMs: this.#usage.lastUsed(n.client.name, m.id),
          inFlight: this.#usage.inFlight(n.client.name, m.id),
          priority: profile?.residency_priority ?? 0,
          pinned: profile?.pinned === true,
        });
      }
    }
    return out;
  }

  async #coldLoad(entry: CatalogueEntry, exclude?: ReadonlySet<string>): Promise<NeuronState> {
    for (const unloading of [...this.#unloading.get(entry.id) ?? []]) await unloading;
    // Placement may need a second try if a victim got busy between plan and unload.
    let fresh = false;
    for (let attempt = 0; attempt < 3; attempt++) {
      const snapshot = this.#fleet.snapshot().filter((n) => !exclude?.has(n.name));
      const stored = snapshot.flatMap((n) =>
        n.up
          ? n.models.filter((m) =>
            m.state === "available" && sourceMatches(entry.profile.source, m.source)
          )
          : []
      );
      const need = profileBytes(entry.profile, stored);
      if (need === null) {
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
          ),
      }));
      const plan = planPlacement({
        profile: entry.profile,
        needBytes: need,
        snapshot: withFile,
        residents: this.residents(),
        strategy: this.#opts.strategy,
      });
      if (plan.kind === "none") {
        // Neuron in-flight counts and load states are as old as the last poll (a request
        // that just finished still counts): look again before refusing.
        if ((plan.code === "busy" || plan.code === "loading") && !fresh) {
          fresh = true;
          await this.#fleet.pollAll();
          continue;
        }
        if (plan.code === "busy" || plan.code === "loading") {
          throw new RetryLaterError(plan.reason, 5, "no_capacity");
        }
        throw new HttpError(503, plan.reason, { code: "no_capacity" });
      }
      const neuron = this.#fleet.get(plan.neuron)!;
      if (plan.kind === "evict") {
        const busy = plan.victims.find((v) => this.#usage.inFlight(plan.neuron, v.model) > 0);
        if (busy) continue;
        for (const v of plan.victims) await this.#evict(neuron, v.model, "capacity");
      }
      const file = neuron.models.find((m) =>
        m.state === "available" && sourceMatches(entry.profile.source, m.source)
      )!;
      await this.#load(neuron, entry, file, plan.device);
      return neuron;
    }
    throw new RetryLaterError(
      `${entry.id}: the models that would make room keep getting requests`,
      5,
    );
  }

  async #load(neuron: NeuronState, entry: CatalogueEntry, file: NeuronModel, device?: string) {
    const p = entry.profile;
    const t0 = performance.now();
    this.#log.info("loading", { model: entry.id, neuron: neuron.client.name, device });
    const req = {
      model: entry.id,
      source: file.source,
      ...(device ? { device } : {}),
      ...(p.context_length ? { context: p.context_length } : {}),
      ...(p.parallel ? { slots: p.parallel } : {}),
      ...(p.embeddings ? { embeddings: true } : {}),
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
        this.#catalogue.rebuild();
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
        ...(m.embeddings ? { embeddings: true } : {}),
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
