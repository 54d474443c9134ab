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
import { DeviceWorker, type EventSink } from "./device_worker.ts";
import type { EmbeddingResult } from "./embedder.ts";
import type { WorkerStats } from "./messages.ts";
import {
  EngineError,
  type EngineEvent,
  type GenerateParams,
  type LoadedModelInfo,
  type LoadOptions,
} from "./types.ts";

export interface EngineOptions {
  libraryDir?: string;
  /** Device names to use (e.g. ["CUDA0"]); absent = every GPU, or the CPU when there is none. */
  devices?: string[];
  logLevel?: string;
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
  #log = createLogger("engine");

  private constructor(lib: LlamaLibrary, workers: DeviceWorker[]) {
    this.lib = lib;
    this.workers = workers;
  }

  static async start(opts: EngineOptions = {}): Promise<Engine> {
    const lib = openLlamaLibrary({ dir: opts.libraryDir, log: createLogger("llama.cpp") });
    const all = listDevices(lib);
    const chosen = pickDevices(all, opts.devices);
    const workers = await Promise.all(chosen.map((d) =>
      DeviceWorker.start({
        deviceIndex: d.index,
        libraryDir: lib.dir,
        logLevel: opts.logLevel,
      })
    ));
    const engine = new Engine(lib, workers);
    engine.#log.info("engine ready", {
      llama: lib.version,
      devices: workers.map((w) => w.device.name).join(","),
    });
    return engine;
  }

  /** Devices with live memory figures and telemetry. */
  async devices(): Promise<DeviceState[]> {
    const fresh = new Map(listDevices(this.lib).map((d) => [d.index, d]));
    return await Promise.all(this.workers.map((w) => {
      const d = fresh.get(w.deviceIndex) ?? w.device;
      const t = d.type === "gpu" ? gpuTelemetry(d.pciBusId, d.index) : NO_TELEMETRY;
      return { ...d, ...t, failed: w.failed };
    }));
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
    place: { device?: string; onProgress?: (f: number) => void } = {},
  ): Promise<LoadedModelInfo> {
    if (this.#placement.has(key)) {
      throw new EngineError("bad_request", `model ${key} is already loaded or loading`);
    }
    const w = this.workerFor(place.device);
    this.#placement.set(key, w);
    try {
      return await w.load(key, path, opts, place.onProgress);
    } catch (e) {
      this.#placement.delete(key);
      throw e;
    }
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
