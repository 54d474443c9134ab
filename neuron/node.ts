/**
 * The neuron's model registry: which store files are loading, loaded or
 * failed, on which device, and how much memory each holds against its
 * device's budget. HTTP handlers go through here; the engine below knows
 * nothing of HTTP or the store.
 */

import type {
  Device,
  KvCacheType,
  LoadRequest,
  ModelSplit,
  NeuronModel,
  SpeculationState,
} from "../core/neuron/schemas.ts";
import { createLogger } from "../core/log.ts";
import { ChatTemplate } from "./chat/template.ts";
import { Engine } from "./engine/engine.ts";
import {
  DEFAULT_DRAFT_MAX,
  EngineError,
  type LoadedModelInfo,
  type Usage,
} from "./engine/types.ts";
import { ModelStore, type StoreEntry, StoreError } from "./store/model_store.ts";
import { GgufError } from "./store/gguf_header.ts";
import { LoadError } from "./engine/device_worker.ts";
import { type Fit, FitError, fitModel } from "./store/fit.ts";
import { planSplit, type SplitDevice, type SplitPlan, SplitRequestError } from "./store/split.ts";
import { kvBytesPerToken, modelFacts, type ModelSummary } from "./store/summary.ts";
import { detectToolFormat, type ToolFormat } from "../core/tools/mod.ts";

export interface NeuronSettings {
  name: string;
  modelDirs: string[];
  devices?: string[];
  /** Device name → budget in bytes, overriding what the device reports. */
  memoryBudgets: Record<string, number>;
  /** Explicit slots / context per slot; absent = fitted to the device (store/fit.ts). */
  slots?: number;
  context?: number;
  kvCacheType: KvCacheType;
  nThreads: number;
  nThreadsBatch?: number;
  nBatch: number;
  maxQueue: number;
  libraryPath?: string;
  /** RPC servers ("host:port") whose devices splits may use, after this host's own. */
  rpcServers?: string[];
  /** libggml-rpc.so for a library without RPC (absent: `llama-build --rpc-module`'s). */
  rpcLibrary?: string;
  logLevel?: string;
}

export interface ModelRecord {
  key: string;
  source: string;
  path: string;
  state: "loading" | "loaded" | "failed";
  /** The device that runs it: for a split, the first of this host's devices in it. */
  device: string;
  memoryBytes: number;
  /** Split over several devices: each one's layers and share of memoryBytes; null: one. */
  split: SplitPlan | null;
  summary: ModelSummary;
  kvCacheType: KvCacheType;
  info: LoadedModelInfo | null;
  template: ChatTemplate | null;
  toolFormat: ToolFormat;
  progress: number | null;
  error: string | null;
  loadedAt: number | null;
  lastUsed: number | null;
  inFlight: number;
  /** Settles when the load does (shared by concurrent identical loads). */
  ready: Promise<ModelRecord>;
  /** Set while the model is being unloaded: no new requests; a new load waits for it. */
  unloading: Promise<void> | null;
  /** Speculation as loaded (mode from the engine once loaded) and its running counts. */
  speculation: SpeculationState;
}

/** Why a load was refused, with the figures to show the caller. */
export class LoadRefusedError extends Error {
  override name = "LoadRefusedError";
  constructor(
    readonly status: 400 | 404 | 409 | 507,
    message: string,
    readonly details: Record<string, unknown> = {},
    /** The load request field at fault, when one is. */
    readonly param?: string,
  ) {
    super(message);
  }
}

const MiB = 1024 * 1024;

/** `memory_budget_mb` names a device this neuron does not use (a typo, usually). */
export class UnknownBudgetDeviceError extends Error {
  override name = "UnknownBudgetDeviceError";
  constructor(readonly device: string, readonly devices: string[]) {
    super(
      `memory_budget_mb.${device}: expected one of this neuron's devices (${
        devices.join(", ")
      }), found "${device}"`,
    );
  }
}

export class Neuron {
  readonly settings: NeuronSettings;
  readonly engine: Engine;
  readonly store: ModelStore;
  readonly startedAt = Date.now();
  /** Called when an inference request ends (metrics hook). */
  onFinished?: (model: string, endpoint: string, status: string, usage?: Usage) => void;
  readonly #records = new Map<string, ModelRecord>();
  /** Loads between the request and their record (store lookups, device choice). */
  readonly #starting = new Map<string, Promise<ModelRecord>>();
  /**
   * Device → bytes still held by models lost with their RPC server: never freed (a free would
   * call the dead server), so they stay accounted until the neuron restarts.
   */
  readonly #leaked = new Map<string, number>();
  #log = createLogger("neuron");

  private constructor(settings: NeuronSettings, engine: Engine) {
    this.settings = settings;
    this.engine = engine;
    this.store = new ModelStore(settings.modelDirs);
  }

  static async start(settings: NeuronSettings): Promise<Neuron> {
    const engine = await Engine.start({
      libraryDir: settings.libraryPath,
      devices: settings.devices,
      logLevel: settings.logLevel,
      rpcServers: settings.rpcServers,
      rpcLibrary: settings.rpcLibrary,
    });
    // Device names are known only now: a budget for a name that is not here would be
    // silently ignored, and the neuron would use memory the operator meant to cap.
    const names = [
      ...engine.workers.map((w) => w.device.name),
      ...engine.remote.map((r) => r.info.name),
    ];
    const unknown = Object.keys(settings.memoryBudgets).find((k) => !names.includes(k));
    if (unknown !== undefined) {
      await engine.close();
      throw new UnknownBudgetDeviceError(unknown, names);
    }
    const neuron = new Neuron(settings, engine);
    engine.onModelLost = (key, reason) => neuron.#lost(key, reason);
    return neuron;
  }

  /** A split model's RPC server was lost: it fails (its requests already ended in errors). */
  #lost(key: string, reason: string): void {
    const r = this.#records.get(key);
    if (!r) return;
    if (r.state !== "failed") {
      for (const x of r.split?.shares ?? []) {
        this.#leaked.set(x.device, (this.#leaked.get(x.device) ?? 0) + x.bytes);
      }
    }
    r.state = "failed";
    r.progress = null;
    r.error = `${key}: ${reason}`;
    this.#log.error("model lost with its RPC server: its memory here stays held until a restart", {
      model: key,
      reason,
    });
  }

  record(key: string): ModelRecord | undefined {
    return this.#records.get(key);
  }

  /** A loaded model, or an EngineError("not_loaded"). */
  loaded(key: string): ModelRecord {
    const r = this.#records.get(key);
    if (!r || r.state !== "loaded" || r.unloading) {
      throw new EngineError(
        "not_loaded",
        r?.state === "loading" ? `model ${key} is still loading` : `model ${key} is not loaded`,
      );
    }
    return r;
  }

  /** Every model that is loading, loaded or failed. */
  records(): ModelRecord[] {
    return [...this.#records.values()];
  }

  loadedRecords(): ModelRecord[] {
    return [...this.#records.values()].filter((r) => r.state === "loaded" && !r.unloading);
  }

  /**
   * Loads a store file under a key. Idempotent: a model already loaded (or
   * loading) under that key answers with the same record.
   */
  load(req: LoadRequest, onProgress?: (f: number) => void): Promise<ModelRecord> {
    const existing = this.#records.get(req.model);
    if (existing?.unloading) {
      // Reloading a key that is still being released: wait until its memory is back.
      return existing.unloading.then(() => this.load(req, onProgress));
    }
    if (existing && existing.state !== "failed") {
      const source = req.source ?? req.model;
      if (existing.source !== source) {
        return Promise.reject(
          new LoadRefusedError(
            409,
            `${req.model} is already ${existing.state} from ${existing.source}, not ${source}`,
          ),
        );
      }
      return existing.ready;
    }
    const starting = this.#starting.get(req.model);
    if (starting) return starting;
    const p = this.#load(req, onProgress);
    this.#starting.set(req.model, p);
    const done = () => {
      if (this.#starting.get(req.model) === p) this.#starting.delete(req.model);
    };
    p.then(done, done);
    return p;
  }

  async #load(req: LoadRequest, onProgress?: (f: number) => void): Promise<ModelRecord> {
    let entry: StoreEntry;
    try {
      entry = await this.store.resolve(req.source ?? req.model);
    } catch (e) {
      if (e instanceof StoreError) {
        throw new LoadRefusedError(e.code === "invalid_id" ? 400 : 404, e.message);
      }
      throw e;
    }
    const summary = await this.#summary(entry, req.source !== undefined ? "source" : "model");
    let draft: { entry: StoreEntry; summary: ModelSummary } | undefined;
    if (req.draft !== undefined) {
      let d: StoreEntry;
      try {
        d = await this.store.resolve(req.draft);
      } catch (e) {
        if (e instanceof StoreError) {
          throw new LoadRefusedError(
            e.code === "invalid_id" ? 400 : 404,
            `draft: ${e.message}`,
            {},
            "draft",
          );
        }
        throw e;
      }
      draft = { entry: d, summary: await this.#summary(d, "draft") };
    }
    if (req.speculative === "draft" && !draft) {
      throw new LoadRefusedError(
        400,
        'speculative "draft" needs a draft model: set `draft` to its store id',
        {},
        "speculative",
      );
    }
    const devices = await this.devices();
    const { device, fit, split } = this.#place(devices, req, summary, draft?.summary);
    const { context, slots } = fit;
    const need = fit.totalBytes;

    const s = this.settings;
    let settle!: { resolve: (r: ModelRecord) => void; reject: (e: unknown) => void };
    const ready = new Promise<ModelRecord>((resolve, reject) => settle = { resolve, reject });
    ready.catch(() => {}); // observed by whoever awaits it
    const rec: ModelRecord = {
      key: req.model,
      source: entry.id,
      path: entry.path,
      state: "loading",
      device: device.name,
      memoryBytes: need,
      split,
      summary,
      kvCacheType: fit.kvType,
      info: null,
      template: null,
      toolFormat: "none",
      progress: 0,
      error: null,
      loadedAt: null,
      lastUsed: null,
      inFlight: 0,
      ready,
      unloading: null,
      speculation: {
        mode: req.speculative ?? (draft ? "draft" : "off"),
        draft: draft?.entry.id ?? null,
        draft_max: req.draft_max ?? DEFAULT_DRAFT_MAX,
        draft_min_p: req.draft_min_p ?? 0,
        drafted_tokens: 0,
        accepted_tokens: 0,
      },
    };
    this.#records.set(req.model, rec);
    this.#log.info("loading", {
      model: req.model,
      source: entry.id,
      device: device.name,
      ...(split ? { split: split.shares.map((x) => `${x.device}:${x.layers}`).join(",") } : {}),
      context,
      slots,
      kv_cache_type: fit.kvType,
      trained_context: fit.trained,
      memory_mib: Math.ceil(need / MiB),
      free_mib: Math.floor(device.memory_free_bytes / MiB),
      // Why the context is shorter than trained, or the slots fewer than 4.
      fitted: fit.reduced ??
        (req.context ?? s.context ?? req.slots ?? s.slots ? "as configured" : "trained length"),
    });
    try {
      const info = await this.engine.load(req.model, entry.path, {
        context,
        slots,
        kvCacheType: fit.kvType,
        nBatch: s.nBatch,
        nThreads: s.nThreads,
        nThreadsBatch: s.nThreadsBatch,
        maxQueue: s.maxQueue,
        embeddings: req.embeddings ?? false,
        gpuLayers: req.gpu_layers,
        speculative: rec.speculation.mode,
        draftPath: draft?.entry.path,
        draftMax: rec.speculation.draft_max,
        draftMinP: rec.speculation.draft_min_p,
      }, {
        device: device.name,
        split: split
          ? {
            mode: split.mode,
            devices: split.shares.map((x) => x.device),
            tensorSplit: split.tensorSplit,
            gpuLayers: split.gpuLayers,
          }
          : undefined,
        onProgress: (f) => {
          rec.progress = f;
          onProgress?.(f);
        },
      });
      rec.info = info;
      try {
        rec.template = new ChatTemplate(info.chatTemplate, {
          bos: info.bosText,
          eos: info.eosText,
        });
      } catch (e) {
        this.#log.warn("chat template unusable, using ChatML", { model: req.model, error: e });
        rec.template = new ChatTemplate(null, { bos: info.bosText, eos: info.eosText });
      }
      rec.toolFormat = detectToolFormat({
        chatTemplate: info.chatTemplate ?? undefined,
        specialTokens: info.specialTokens,
      });
      rec.state = "loaded";
      rec.progress = null;
      rec.loadedAt = Date.now();
      settle.resolve(rec);
      return rec;
    } catch (err) {
      // A draft whose vocabulary does not match is the request's fault, named by its field;
      // so is a draft file llama.cpp cannot load (its message names the draft's path).
      const e = draft && err instanceof EngineError && err.code === "bad_request"
        ? new LoadRefusedError(400, `draft: ${err.message}`, {}, "draft")
        : draft && err instanceof LoadError && err.code === "load_failed" &&
            err.message.includes(draft.entry.path)
        ? new LoadError("load_failed", `draft: ${err.message}`, "draft")
        : err;
      rec.state = "failed";
      rec.progress = null;
      rec.error = (e as Error).message;
      settle.reject(e);
      throw e;
    }
  }

  /** A store file's GGUF facts; a file that is no readable GGUF is a 400 naming `param`. */
  async #summary(entry: StoreEntry, param: string): Promise<ModelSummary> {
    try {
      return await this.store.summary(entry);
    } catch (e) {
      if (!(e instanceof GgufError)) throw e;
      const prefix = param === "draft" ? "draft: " : "";
      throw new LoadRefusedError(400, `${prefix}${e.message}`, {}, param);
    }
  }

  /**
   * What a load would get on a device of this budget: explicit context/slots (request, then
   * neuron.toml) as given, the rest fitted (store/fit.ts). Throws FitError.
   */
  fit(
    summary: ModelSummary,
    budgetBytes: number,
    device: string,
    req: { context?: number; slots?: number; kv_cache_type?: KvCacheType } = {},
    totalBytes?: number,
    draft?: ModelSummary,
  ): Fit {
    const s = this.settings;
    return fitModel({
      summary,
      draft,
      budgetBytes,
      totalBytes,
      device,
      nBatch: s.nBatch,
      kvType: req.kv_cache_type ?? s.kvCacheType,
      context: req.context ?? s.context,
      slots: req.slots ?? s.slots,
    });
  }

  /** What a device can give one model: a budget as set, else free memory less headroom. */
  #budget(d: Device): number {
    if (d.memory_budget_bytes !== null) return d.memory_free_bytes;
    // The device's own figure: leave room for the OS, the driver and other processes.
    return Math.max(0, d.memory_free_bytes - Math.max(256 * MiB, 0.05 * d.memory_total_bytes));
  }

  /**
   * Picks the requested device, or the one with the most free budget, and fits the model to
   * it; or plans a split (asked for, or automatic when no single device holds the model but
   * the devices together do). Refuses (507 with the numbers) when it cannot fit.
   */
  #place(
    devices: Device[],
    req: LoadRequest,
    summary: ModelSummary,
    draft?: ModelSummary,
  ): { device: Device; fit: Fit; split: SplitPlan | null } {
    const live = devices.filter((d) => d.state === "ok");
    if (req.split !== undefined || req.devices !== undefined) {
      return this.#placeSplit(live, req, summary, null, draft);
    }
    const wanted = req.device;
    // An RPC device takes shares of splits, never a whole model (it cannot run one).
    const local = live.filter((d) => !d.remote);
    const pool = wanted ? local.filter((d) => d.name === wanted) : local;
    if (wanted && !pool.length) {
      throw new LoadRefusedError(
        400,
        `device ${wanted} is not available here (devices: ${local.map((d) => d.name).join(", ")})`,
        {},
        "device",
      );
    }
    const best = [...pool].sort((a, b) => b.memory_free_bytes - a.memory_free_bytes)[0];
    if (!best) throw new LoadRefusedError(507, "no device is available");
    try {
      const total = best.memory_budget_bytes ?? best.memory_total_bytes;
      return {
        device: best,
        fit: this.fit(summary, this.#budget(best), best.name, req, total, draft),
        split: null,
      };
    } catch (e) {
      if (!(e instanceof FitError)) throw e;
      // A KV type the model cannot take is the request's fault; memory is the device's.
      const status = "block" in e.details ? 400 : 507;
      const refused = new LoadRefusedError(status, `${req.model}: ${e.message}`, {
        ...e.details,
        free_bytes: best.memory_free_bytes,
        total_bytes: best.memory_budget_bytes ?? best.memory_total_bytes,
      });
      if (status === 400 || wanted || live.length < 2) throw refused;
      return this.#placeSplit(live, req, summary, refused, draft);
    }
  }

  /** Candidates of a split: this host's devices by free budget, then the RPC servers' in order. */
  #splitCandidates(live: Device[], budget: (d: Device) => number): SplitDevice[] {
    const local = live.filter((d) => !d.remote).sort((a, b) => budget(b) - budget(a));
    return [...local, ...live.filter((d) => d.remote)].map((d) => ({
      name: d.name,
      budgetBytes: budget(d),
      cpu: d.type === "cpu",
    }));
  }

  /**
   * A split over the requested devices, or the fewest candidates that hold the model. The
   * device that runs it is the first of this host's devices in llama.cpp's order.
   */
  #placeSplit(
    live: Device[],
    req: LoadRequest,
    summary: ModelSummary,
    single: LoadRefusedError | null,
    draft?: ModelSummary,
  ): { device: Device; fit: Fit; split: SplitPlan } {
    const s = this.settings;
    if (draft) {
      // The split planner does not place a draft model's memory yet.
      throw new LoadRefusedError(
        400,
        `${req.model}: a draft model is not supported with a split (${
          single ? "it fits no single device" : "a split was asked for"
        })`,
        {},
        "draft",
      );
    }
    let candidates = this.#splitCandidates(live, (d) => this.#budget(d));
    if (req.devices) {
      const unknown = req.devices.find((n) => !candidates.some((c) => c.name === n));
      if (unknown !== undefined) {
        throw new LoadRefusedError(
          400,
          `devices: ${unknown} is not available here (devices: ${
            candidates.map((c) => c.name).join(", ")
          })`,
          {},
          "devices",
        );
      }
      candidates = req.devices.map((n) => candidates.find((c) => c.name === n)!);
    }
    if (!candidates.some((c) => !live.find((d) => d.name === c.name)!.remote)) {
      throw new LoadRefusedError(
        400,
        `devices: a split needs one of this host's devices (it runs there), not only RPC ones`,
        {},
        "devices",
      );
    }
    if (candidates.length < 2) {
      // Only an explicit `split` gets here with one device (`devices` lists two or more).
      throw new LoadRefusedError(
        400,
        `split: a split needs two devices or more; this neuron has ${
          candidates.map((c) => c.name).join(", ") || "none"
        }`,
        {},
        "split",
      );
    }
    if ((req.split ?? "layer") === "row") {
      // Row splits need split buffers, which only CUDA devices have; CPU and RPC do not.
      const other = candidates.find((c) =>
        live.find((d) => d.name === c.name)!.type !== "gpu" ||
        live.find((d) => d.name === c.name)!.remote
      );
      if (other) {
        throw new LoadRefusedError(
          400,
          `split: "row" needs every device to be a local GPU; ${other.name} is not (use "layer")`,
          {},
          "split",
        );
      }
    }
    let plan: SplitPlan;
    try {
      plan = planSplit({
        summary,
        devices: candidates,
        mode: req.split ?? "layer",
        fixed: req.devices !== undefined,
        tensorSplit: req.tensor_split,
        nBatch: s.nBatch,
        kvType: req.kv_cache_type ?? s.kvCacheType,
        context: req.context ?? s.context,
        slots: req.slots ?? s.slots,
      });
    } catch (e) {
      if (e instanceof SplitRequestError) {
        throw new LoadRefusedError(400, `${req.model}: ${e.message}`, {}, e.field);
      }
      if (!(e instanceof FitError)) throw e;
      const status = "block" in e.details ? 400 : 507;
      throw new LoadRefusedError(
        status,
        `${req.model}: ${single ? `${single.message}; ` : ""}${e.message}`,
        e.details,
      );
    }
    const owner = plan.shares.map((x) => live.find((d) => d.name === x.device)!)
      .find((d) => !d.remote)!;
    return { device: owner, fit: plan.fit, split: plan };
  }

  /**
   * What a load at this neuron's defaults would get on its largest device (placement plans
   * with it: the fitted default takes a whole device, so the gateway makes room for it).
   */
  async #defaultFit(summary: ModelSummary): Promise<{ fit: Fit; split: SplitPlan | null } | null> {
    const devices = await this.devices();
    const live = devices.filter((d) => d.state === "ok");
    const total = (d: Device) =>
      d.memory_budget_bytes ??
        Math.max(0, d.memory_total_bytes - Math.max(256 * MiB, 0.05 * d.memory_total_bytes));
    let best: Fit | null = null;
    for (const d of live.filter((d) => !d.remote)) {
      try {
        const f = this.fit(summary, total(d), d.name);
        if (!best || f.context * f.slots > best.context * best.slots) best = f;
      } catch {
        // does not fit this device at the defaults
      }
    }
    if (best || live.length < 2) return best && { fit: best, split: null };
    // Fits no single device: the split a load would get over the devices' whole budgets.
    const s = this.settings;
    try {
      const split = planSplit({
        summary,
        devices: this.#splitCandidates(live, total),
        mode: "layer",
        fixed: false,
        nBatch: s.nBatch,
        kvType: s.kvCacheType,
        context: s.context,
        slots: s.slots,
      });
      return { fit: split.fit, split };
    } catch {
      return null; // not even split
    }
  }

  /** Cancels a load in progress or unloads a loaded model; the memory is released. */
  async unload(key: string): Promise<void> {
    const r = this.#records.get(key);
    if (!r) throw new EngineError("not_loaded", `model ${key} is not loaded`);
    if (r.state === "failed") {
      this.#records.delete(key);
      return;
    }
    if (r.state === "loading") {
      this.engine.cancelLoad(key);
      await r.ready.catch(() => {});
      this.#records.delete(key);
      return;
    }
    if (r.unloading) return await r.unloading;
    // The record stays (memory still held, key still taken) until the engine let go.
    r.unloading = this.engine.unload(key).finally(() => this.#records.delete(key));
    await r.unloading;
    this.#log.info("unloaded", { model: key });
  }

  /** Devices with memory accounted against budgets (a split's share on each of its devices). */
  async devices(): Promise<Device[]> {
    const states = await this.engine.devices();
    return states.map((d) => {
      const used = [...this.#records.values()]
        .filter((r) => r.state !== "failed")
        .reduce((n, r) => n + shareOn(r, d.name), this.#leaked.get(d.name) ?? 0);
      const budget = this.settings.memoryBudgets[d.name] ?? null;
      // A budget caps what we use; real free memory still bounds it (other processes). The
      // CPU's figure and an RPC server's (read once, when attached) do not see our own use.
      const free = budget !== null
        ? Math.max(0, Math.min(budget - used, d.memoryFreeBytes))
        : d.type === "cpu" || d.remote
        ? Math.max(0, d.memoryFreeBytes - used)
        : d.memoryFreeBytes;
      return {
        name: d.name,
        description: d.description,
        type: d.type,
        state: d.failed ? "failed" : "ok",
        error: d.failed,
        memory_total_bytes: d.memoryTotalBytes,
        memory_free_bytes: free,
        memory_budget_bytes: budget,
        memory_used_bytes: used,
        ...(d.remote ? { remote: true } : {}),
        temperature_c: d.temperatureC,
        utilization_percent: d.utilizationPercent,
      };
    });
  }

  /** Store files and loaded models, as the API lists them. */
  async models(): Promise<NeuronModel[]> {
    const out = new Map<string, NeuronModel>();
    for (const r of this.#records.values()) out.set(r.key, this.describe(r));
    for (const e of await this.store.list()) {
      if (out.has(e.id)) continue;
      let s: ModelSummary | null = null;
      try {
        s = await this.store.summary(e);
      } catch {
        // unreadable header: listed, but it will fail to load
      }
      const placed = s ? await this.#defaultFit(s) : null;
      const fit = placed?.fit;
      const kvType = this.settings.kvCacheType;
      out.set(e.id, {
        id: e.id,
        source: e.id,
        state: "available",
        device: null,
        split: splitOf(placed?.split ?? null),
        size_bytes: e.sizeBytes,
        // What a load at this neuron's defaults would take: placement plans with it.
        memory_bytes: fit?.totalBytes ?? null,
        context_length: s?.contextLength ?? null,
        context: fit?.context ?? null,
        slots: fit?.slots ?? null,
        kv_bytes_per_token: s ? kvBytesPerToken(s, kvType) : null,
        kv_cache_type: kvType,
        reasoning: s?.markers ?? null,
        chat_template: (s?.chatTemplate ?? null) !== null,
        ...modelFacts(s),
        tool_format: null,
        embeddings: false,
        in_flight: 0,
        queued: 0,
        progress: null,
        error: s ? null : "unreadable GGUF header",
        loaded_at: null,
        last_used: null,
      });
    }
    return [...out.values()].sort((a, b) => a.id.localeCompare(b.id));
  }

  /** One model as listed, with its chat template's text; null when there is none by that id. */
  async show(id: string): Promise<{ model: NeuronModel; chatTemplate: string | null } | null> {
    const r = this.#records.get(id);
    if (r) {
      return {
        model: this.describe(r),
        chatTemplate: r.info ? r.info.chatTemplate : r.summary.chatTemplate,
      };
    }
    const m = (await this.models()).find((x) => x.id === id);
    if (!m) return null;
    const s = m.error === null
      ? await this.store.summary(await this.store.resolve(m.source))
      : null;
    return { model: m, chatTemplate: s?.chatTemplate ?? null };
  }

  describe(r: ModelRecord): NeuronModel {
    const slots = r.info?.slots ?? null;
    return {
      id: r.key,
      source: r.source,
      state: r.state,
      device: r.device,
      split: splitOf(r.split),
      size_bytes: r.summary.fileBytes,
      memory_bytes: r.memoryBytes,
      context_length: r.summary.contextLength,
      context: r.info?.context ?? null,
      slots,
      kv_bytes_per_token: kvBytesPerToken(r.summary, r.kvCacheType),
      kv_cache_type: r.kvCacheType,
      reasoning: r.info?.markers
        ? { open: r.info.markers.open, close: r.info.markers.close }
        : r.state === "loaded"
        ? null
        : r.summary.markers,
      chat_template: (r.info ? r.info.chatTemplate : r.summary.chatTemplate) !== null,
      ...modelFacts(r.summary),
      tool_format: r.state === "loaded" ? r.toolFormat : null,
      embeddings: r.info?.embeddings ?? false,
      speculation: r.state === "loaded" ? { ...r.speculation } : null,
      in_flight: r.inFlight,
      queued: slots === null ? 0 : Math.max(0, r.inFlight - slots),
      progress: r.progress,
      error: r.error,
      loaded_at: r.loadedAt,
      last_used: r.lastUsed,
    };
  }

  async close(): Promise<void> {
    await this.engine.close();
  }
}

/** Bytes a model holds on a device: its share of a split, or all of it on its one device. */
function shareOn(r: ModelRecord, device: string): number {
  if (r.split) return r.split.shares.find((x) => x.device === device)?.bytes ?? 0;
  return r.device === device ? r.memoryBytes : 0;
}

function splitOf(p: SplitPlan | null): ModelSplit | null {
  return p && {
    mode: p.mode,
    shares: p.shares.map((x) => ({ device: x.device, layers: x.layers, memory_bytes: x.bytes })),
  };
}
