/**
 * Main-thread handle on one device worker: typed calls in, typed events
 * out. A worker that dies is marked failed and every caller waiting on it
 * gets an error; other devices are unaffected.
 */

import { createLogger, logLevel } from "../../core/log.ts";
import type { DeviceInfo } from "../llama/devices.ts";
import type { EmbeddingResult } from "./embedder.ts";
import type { Reply, Request, WorkerStats } from "./messages.ts";
import { markRpcLost, newRpcLock } from "./rpc_lock.ts";
import {
  EngineError,
  type EngineErrorCode,
  type EngineEvent,
  type GenerateParams,
  type LoadedModelInfo,
  type LoadOptions,
} from "./types.ts";

type Pending = {
  resolve: (v: unknown) => void;
  reject: (e: Error) => void;
  /** The model the call is about (abandon settles it). */
  key?: string;
  op: Request["op"];
};
export type EventSink = (ev: EngineEvent) => void;

/** One per process: every worker's decodes over RPC devices take it (rpc_lock.ts). */
const RPC_LOCK = newRpcLock();

/** An RPC server was lost: decodes waiting for the RPC lock stop polling (rpc_lock.ts). */
export function rpcLockLost(): void {
  markRpcLost(new Int32Array(RPC_LOCK));
}

export class LoadError extends Error {
  override name = "LoadError";
  constructor(
    readonly code: "load_failed" | "load_cancelled" | EngineErrorCode,
    message: string,
    /** The load request field whose file failed, when the neuron knows (`draft`). */
    readonly param?: string,
  ) {
    super(message);
  }
}

export interface DeviceWorkerOptions {
  deviceIndex: number;
  libraryDir?: string;
  logLevel?: string;
}

export class DeviceWorker {
  readonly deviceIndex: number;
  device!: DeviceInfo;
  version = "";
  systemInfo = "";
  failed: string | null = null;
  readonly #worker: Worker;
  /** Rung with every message so a busy worker takes it promptly (worker_state.ts). */
  readonly #doorbell = new Int32Array(new SharedArrayBuffer(4));
  readonly #pending = new Map<number, Pending>();
  readonly #sinks = new Map<string, { key: string; sink: EventSink }>();
  readonly #progress = new Map<string, (f: number) => void>();
  #nextId = 1;
  #log = createLogger("device");

  private constructor(opts: DeviceWorkerOptions) {
    this.deviceIndex = opts.deviceIndex;
    this.#worker = new Worker(new URL("./worker.ts", import.meta.url), { type: "module" });
  }

  /** Starts a worker and waits until it has opened llama.cpp and found its device. */
  static start(opts: DeviceWorkerOptions): Promise<DeviceWorker> {
    const dw = new DeviceWorker(opts);
    return new Promise((resolve, reject) => {
      dw.#worker.onerror = (e) => {
        e.preventDefault();
        reject(new Error(`device worker ${opts.deviceIndex} failed to start: ${e.message}`));
      };
      dw.#worker.onmessage = (e: MessageEvent<Reply>) => {
        const m = e.data;
        if (m.op === "ready") {
          dw.device = m.device;
          dw.version = m.version;
          dw.systemInfo = m.systemInfo;
          dw.#worker.onmessage = (ev: MessageEvent<Reply>) => dw.#onMessage(ev.data);
          dw.#worker.onerror = (ev) => {
            ev.preventDefault();
            dw.#die(ev.message || "worker error");
          };
          resolve(dw);
        } else if (m.op === "initFailed") {
          dw.#worker.terminate();
          reject(new Error(m.message));
        }
      };
      dw.#worker.postMessage({
        deviceIndex: opts.deviceIndex,
        libraryDir: opts.libraryDir,
        // Unset: the worker logs as this thread does (CORTEX_LOG or --log-level).
        logLevel: opts.logLevel ?? logLevel(),
        doorbell: dw.#doorbell.buffer,
        rpcLock: RPC_LOCK,
      });
    });
  }

  #onMessage(m: Reply): void {
    switch (m.op) {
      case "events":
        for (const [rid, ev] of m.items) {
          const s = this.#sinks.get(rid);
          if (!s) continue;
          if (ev.type === "done" || ev.type === "error") this.#sinks.delete(rid);
          s.sink(ev);
        }
        return;
      case "ok": {
        const p = this.#pending.get(m.id);
        this.#pending.delete(m.id);
        p?.resolve(m.value);
        return;
      }
      case "err": {
        const p = this.#pending.get(m.id);
        this.#pending.delete(m.id);
        p?.reject(
          m.code === "load_failed" || m.code === "load_cancelled"
            ? new LoadError(m.code, m.message)
            : new EngineError(m.code, m.message, m.limit),
        );
        return;
      }
      case "progress":
        this.#progress.get(m.key)?.(m.fraction);
        return;
    }
  }

  #die(reason: string, quiet = false): void {
    if (this.failed) return;
    this.failed = reason;
    if (!quiet) this.#log.error("device worker died", { device: this.device?.name, reason });
    const err = new EngineError("worker_failed", `device ${this.device?.name} failed: ${reason}`);
    for (const p of this.#pending.values()) p.reject(err);
    this.#pending.clear();
    for (const { sink } of this.#sinks.values()) {
      sink({ type: "error", code: "worker_failed", message: err.message });
    }
    this.#sinks.clear();
    this.#worker.terminate();
  }

  #post(req: Request): void {
    this.#worker.postMessage(req);
    Atomics.add(this.#doorbell, 0, 1);
  }

  #call<T>(req: Request & { id: number }): Promise<T> {
    if (this.failed) return Promise.reject(new EngineError("worker_failed", this.failed));
    return new Promise<T>((resolve, reject) => {
      this.#pending.set(req.id, {
        resolve: resolve as (v: unknown) => void,
        reject,
        key: "key" in req ? req.key : undefined,
        op: req.op,
      });
      this.#post(req);
    });
  }

  load(
    key: string,
    path: string,
    opts: LoadOptions,
    onProgress?: (f: number) => void,
  ): Promise<LoadedModelInfo> {
    if (onProgress) this.#progress.set(key, onProgress);
    return this.#call<LoadedModelInfo>({ op: "load", id: this.#nextId++, key, path, opts })
      .finally(() => this.#progress.delete(key));
  }

  /**
   * Gives up on a model whose RPC server was lost: its load (if any) fails, an unload of it
   * is done (its memory cannot be freed), its other calls and its requests end with an error,
   * and the worker forgets it without a call into llama.cpp (one would never return). The
   * worker and its other models carry on.
   */
  abandon(key: string, reason: string): void {
    for (const [id, p] of this.#pending) {
      if (p.key !== key) continue;
      this.#pending.delete(id);
      if (p.op === "unload") p.resolve(null);
      else if (p.op === "load") p.reject(new LoadError("load_failed", reason));
      else p.reject(new EngineError("decode_failed", reason));
    }
    for (const [rid, s] of this.#sinks) {
      if (s.key !== key) continue;
      this.#sinks.delete(rid);
      s.sink({ type: "error", code: "decode_failed", message: reason });
    }
    if (!this.failed) this.#post({ op: "abandon", key });
  }

  cancelLoad(key: string): void {
    if (!this.failed) this.#post({ op: "cancelLoad", key });
  }

  unload(key: string): Promise<null> {
    return this.#call({ op: "unload", id: this.#nextId++, key });
  }

  /** Starts a generation; events go to `sink` until a done or error event. */
  generate(key: string, rid: string, params: GenerateParams, sink: EventSink): void {
    if (this.failed) {
      sink({ type: "error", code: "worker_failed", message: this.failed });
      return;
    }
    this.#sinks.set(rid, { key, sink });
    this.#post({ op: "generate", key, rid, params });
  }

  cancel(key: string, rid: string): void {
    if (!this.failed) this.#post({ op: "cancel", key, rid });
  }

  tokenize(key: string, text: string, addSpecial = false): Promise<number[]> {
    return this.#call({ op: "tokenize", id: this.#nextId++, key, text, addSpecial });
  }

  embed(key: string, inputs: (string | number[])[]): Promise<EmbeddingResult> {
    return this.#call({ op: "embed", id: this.#nextId++, key, inputs });
  }

  stats(): Promise<WorkerStats> {
    return this.#call({ op: "stats", id: this.#nextId++ });
  }

  terminate(): void {
    this.#die("stopped", true);
  }
}
