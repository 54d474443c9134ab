/**
 * The neuron's engine as the main thread sees it: one worker per device,
 * models addressed by key, generations as event streams. Discovery runs
 * here first (it registers the process-wide ggml backends); each worker then
 * owns its device's models.
 */

import { createLogger } from "../../core/log.ts";
import { type DeviceInfo, listDevices } from "../llama/devices.ts";
import { type LlamaLibrary, openLlamaLibrary } from "../llama/library.ts";
import { type GpuTelemetry, gpuTelemetry, NO_TELEMETRY } from "../llama/nvml.ts";
import { attachRpcServers, guardRpcAborts, type RpcDevice, RpcError } from "../llama/rpc.ts";
import { DeviceWorker, type EventSink, rpcLockLost } from "./device_worker.ts";
import type { EmbeddingResult } from "./embedder.ts";
import type { WorkerStats } from "./messages.ts";
import {
  EngineError,
  type EngineEvent,
  type GenerateParams,
  type LoadedModelInfo,
  type LoadOptions,
  type SplitLoad,
} from "./types.ts";

export interface EngineOptions {
  libraryDir?: string;
  /** Device names to use (e.g. ["CUDA0"]); absent = every GPU, or the CPU when there is none. */
  devices?: string[];
  logLevel?: string;
  /** RPC servers ("host:port") whose devices splits may use, after this host's own. */
  rpcServers?: string[];
  /** libggml-rpc.so to load when the library has no RPC backend of its own. */
  rpcLibrary?: string;
}

/** A device of an RPC server: no worker of its own; splits owned by local workers use it. */
interface RemoteDevice {
  info: DeviceInfo;
  /** Memory as read when attached (reading it later could hang on a lost server). */
  rpc: RpcDevice;
  failed: string | null;
}

/** Where a split model's layers go (names in llama.cpp's order, from neuron/store/split.ts). */
export interface SplitPlacement {
  mode: "layer" | "row";
  devices: string[];
  tensorSplit: number[];
  gpuLayers: number;
}

export interface DeviceState extends DeviceInfo, GpuTelemetry {
  failed: string | null;
}

export interface GenerationHandle {
  cancel(): void;
}

let ridCounter = 0;

export class Engine {
  readonly lib: LlamaLibrary;
  readonly workers: DeviceWorker[];
  /** model key → the worker holding (or loading) it. */
  readonly #placement = new Map<string, DeviceWorker>();
  /** model key → the devices of its split. */
  readonly #splits = new Map<string, string[]>();
  readonly remote: RemoteDevice[];
  /** Told when a model is lost with its RPC server (its memory stays held: see rpc.ts). */
  onModelLost?: (key: string, reason: string) => void;
  #guard: { close(): void } | null = null;
  #log = createLogger("engine");

  private constructor(lib: LlamaLibrary, workers: DeviceWorker[], remote: RemoteDevice[]) {
    this.lib = lib;
    this.workers = workers;
    this.remote = remote;
  }

  static async start(opts: EngineOptions = {}): Promise<Engine> {
    const lib = openLlamaLibrary({ dir: opts.libraryDir, log: createLogger("llama.cpp") });
    // The guard reports to the engine, which exists only once the devices are attached.
    const ref: { engine?: Engine } = {};
    let guard: { close(): void } | null = null;
    let rpc: RpcDevice[] = [];
    if (opts.rpcServers?.length) {
      // Before any server is attached: from then on a lost one must not abort the process.
      // An abort while attaching (a port that answers but is no rpc-server fails ggml's
      // handshake) stops the start at once with ggml's reason, not after the call's timeout.
      let attachLost: ((message: string) => void) | undefined;
      guard = await guardRpcAborts(
        lib,
        (message) => ref.engine ? ref.engine.rpcLost(message) : attachLost?.(message),
      );
      const at = { endpoint: null as string | null };
      try {
        rpc = await Promise.race([
          attachRpcServers(lib, opts.rpcServers, opts.rpcLibrary, at),
          new Promise<never>((_, reject) =>
            attachLost = (m) =>
              reject(new RpcError(`rpc_servers: ${at.endpoint ?? "?"}: ${ggmlReason(m)}`))
          ),
        ]);
      } catch (e) {
        guard.close();
        throw e;
      }
    }
    const all = listDevices(lib);
    const remote = all.filter((d) => d.remote).map((info) => ({
      info,
      rpc: rpc.find((r) => r.name === info.name)!,
      failed: null,
    }));
    const chosen = pickDevices(all.filter((d) => !d.remote), opts.devices);
    const workers = await Promise.all(chosen.map((d) =>
      DeviceWorker.start({
        deviceIndex: d.index,
        libraryDir: lib.dir,
        logLevel: opts.logLevel,
      })
    ));
    const engine = ref.engine = new Engine(lib, workers, remote);
    engine.#guard = guard;
    engine.#log.info("engine ready", {
      llama: lib.version,
      devices: workers.map((w) => w.device.name).join(","),
      ...(remote.length
        ? { rpc: remote.map((r) => `${r.info.name}=${r.rpc.endpoint}`).join(",") }
        : {}),
    });
    return engine;
  }

  /**
   * An RPC server stopped answering (ggml's message does not say which): every RPC device is
   * failed from now on (its client is parked for good), and every model split over one is
   * given up — its requests end with an error event, the rest of the neuron carries on.
   */
  rpcLost(message: string): void {
    const reason = `an RPC server was lost (${ggmlReason(message)})`;
    this.#log.error("rpc server lost: models split over RPC devices fail", { message });
    for (const r of this.remote) r.failed ??= reason;
    rpcLockLost();
    const remote = new Set(this.remote.map((r) => r.info.name));
    for (const [key, devices] of this.#splits) {
      if (!devices.some((d) => remote.has(d))) continue;
      this.#placement.get(key)?.abandon(key, `${key}: ${reason}`);
      this.#placement.delete(key);
      this.#splits.delete(key);
      this.onModelLost?.(key, reason);
    }
  }

  /** Devices with live memory figures and telemetry. */
  async devices(): Promise<DeviceState[]> {
    const fresh = new Map(listDevices(this.lib).map((d) => [d.index, d]));
    const local = await Promise.all(this.workers.map((w) => {
      const d = fresh.get(w.deviceIndex) ?? w.device;
      const t = d.type === "gpu" ? gpuTelemetry(d.pciBusId, d.index) : NO_TELEMETRY;
      return { ...d, ...t, failed: w.failed };
    }));
    return [
      ...local,
      ...this.remote.map((r) => ({
        ...r.info,
        memoryFreeBytes: r.rpc.memoryFreeBytes,
        memoryTotalBytes: r.rpc.memoryTotalBytes,
        ...NO_TELEMETRY,
        failed: r.failed,
      })),
    ];
  }

  workerFor(deviceName?: string): DeviceWorker {
    const live = this.workers.filter((w) => !w.failed);
    if (deviceName !== undefined) {
      const w = live.find((x) => x.device.name === deviceName);
      if (!w) throw new EngineError("bad_request", `device ${deviceName} is not in use or failed`);
      return w;
    }
    if (!live.length) throw new EngineError("worker_failed", "no device is available");
    return live[0];
  }

  deviceOf(key: string): DeviceWorker | undefined {
    return this.#placement.get(key);
  }

  async load(
    key: string,
    path: string,
    opts: LoadOptions,
    place: { device?: string; split?: SplitPlacement; onProgress?: (f: number) => void } = {},
  ): Promise<LoadedModelInfo> {
    if (this.#placement.has(key)) {
      throw new EngineError("bad_request", `model ${key} is already loaded or loading`);
    }
    let load = opts;
    let w: DeviceWorker;
    if (place.split) {
      const s = this.#splitLoad(place.split);
      w = s.owner;
      load = { ...opts, split: s.load };
      this.#splits.set(key, place.split.devices);
    } else {
      w = this.workerFor(place.device);
    }
    this.#placement.set(key, w);
    try {
      return await w.load(key, path, load, place.onProgress);
    } catch (e) {
      if (this.#placement.get(key) === w) this.#placement.delete(key);
      this.#splits.delete(key);
      throw e;
    }
  }

  /**
   * The worker that owns a split (its first device of this host: one worker per model, so a
   * model's decodes never cross threads) and what it passes to llama.cpp.
   */
  #splitLoad(p: SplitPlacement): { owner: DeviceWorker; load: SplitLoad } {
    const byName = new Map<string, { index: number; remote: boolean; failed: string | null }>();
    for (const w of this.workers) {
      byName.set(w.device.name, { index: w.deviceIndex, remote: false, failed: w.failed });
    }
    for (const r of this.remote) {
      byName.set(r.info.name, { index: r.info.index, remote: true, failed: r.failed });
    }
    const offload: number[] = [];
    let remote = false;
    for (const name of p.devices) {
      const d = byName.get(name);
      if (!d) throw new EngineError("bad_request", `device ${name} is not in use here`);
      if (d.failed) throw new EngineError("bad_request", `device ${name} failed: ${d.failed}`);
      remote ||= d.remote;
      const cpu = !d.remote &&
        this.workers.find((w) => w.deviceIndex === d.index)?.device.type === "cpu";
      if (!cpu) offload.push(d.index);
    }
    const owner = this.workers.find((w) =>
      w.device.name === p.devices.find((n) => !byName.get(n)!.remote)
    );
    if (!owner) {
      throw new EngineError(
        "bad_request",
        `a split needs one of this host's devices (it runs there)`,
      );
    }
    return {
      owner,
      load: { mode: p.mode, offload, tensorSplit: p.tensorSplit, gpuLayers: p.gpuLayers, remote },
    };
  }

  cancelLoad(key: string): void {
    this.#placement.get(key)?.cancelLoad(key);
  }

  async unload(key: string): Promise<void> {
    const w = this.#need(key);
    try {
      await w.unload(key);
    } finally {
      this.#placement.delete(key);
      this.#splits.delete(key);
    }
  }

  /** Starts a generation; `sink` receives events until done or error. */
  generate(key: string, params: GenerateParams, sink: EventSink): GenerationHandle {
    const rid = `r${++ridCounter}`;
    const w = this.#placement.get(key);
    if (!w) {
      sink({ type: "error", code: "not_loaded", message: `model ${key} is not loaded` });
      return { cancel() {} };
    }
    w.generate(key, rid, params, sink);
    return { cancel: () => w.cancel(key, rid) };
  }

  /** The same as an async iterator; breaking out of the loop cancels. */
  async *stream(key: string, params: GenerateParams): AsyncGenerator<EngineEvent> {
    const queue: EngineEvent[] = [];
    let wake: (() => void) | null = null;
    let ended = false;
    const h = this.generate(key, params, (ev) => {
      queue.push(ev);
      if (ev.type === "done" || ev.type === "error") ended = true;
      wake?.();
    });
    try {
      while (true) {
        while (queue.length) {
          const ev = queue.shift()!;
          yield ev;
          if (ev.type === "done" || ev.type === "error") return;
        }
        if (ended) return;
        await new Promise<void>((r) => wake = r);
        wake = null;
      }
    } finally {
      if (!ended) h.cancel();
    }
  }

  tokenize(key: string, text: string, addSpecial = false): Promise<number[]> {
    return this.#need(key).tokenize(key, text, addSpecial);
  }

  embed(key: string, inputs: (string | number[])[]): Promise<EmbeddingResult> {
    return this.#need(key).embed(key, inputs);
  }

  stats(): Promise<WorkerStats[]> {
    return Promise.all(this.workers.filter((w) => !w.failed).map((w) => w.stats()));
  }

  /** Unloads every model and stops the workers. */
  async close(): Promise<void> {
    await Promise.allSettled([...this.#placement.keys()].map((k) => this.unload(k)));
    for (const w of this.workers) w.terminate();
    this.#guard?.close();
  }

  #need(key: string): DeviceWorker {
    const w = this.#placement.get(key);
    if (!w) throw new EngineError("not_loaded", `model ${key} is not loaded`);
    return w;
  }
}

/** Configured names, else every GPU, else the CPU. */
export function pickDevices(all: DeviceInfo[], names?: string[]): DeviceInfo[] {
  if (names?.length) {
    const out: DeviceInfo[] = [];
    for (const n of names) {
      const d = all.find((x) => x.name === n);
      if (!d) {
        throw new EngineError(
          "bad_request",
          `device ${n} not found; this host has ${all.map((x) => x.name).join(", ")}`,
        );
      }
      out.push(d);
    }
    return out;
  }
  const gpus = all.filter((d) => d.type === "gpu" || d.type === "igpu");
  if (gpus.length) return gpus;
  return all.filter((d) => d.type === "cpu").slice(0, 1);
}

/** ggml's abort message without its "file:line: " prefix. */
function ggmlReason(message: string): string {
  return message.replace(/^.*?\.\w+:\d+: /, "").trim();
}
