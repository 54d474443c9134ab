/**
 * Device worker entry: owns one device's llama.cpp models and contexts.
 * Started by `DeviceWorker`; speaks only the messages in messages.ts.
 */

/// <reference lib="deno.worker" />

import { createLogger, parseLevel, setLogLevel } from "../../core/log.ts";
import { deviceHandle, listDevices } from "../llama/devices.ts";
import { openLlamaLibrary } from "../llama/library.ts";
import { LoadCancelledError } from "../llama/model.ts";
import { LoadedModel } from "./loaded_model.ts";
import type { Reply, Request, WorkerInit } from "./messages.ts";
import { EngineError, type EngineEvent } from "./types.ts";
import { workerState } from "./worker_state.ts";

const post = (m: Reply) => self.postMessage(m);

let outbox: [string, EngineEvent][] = [];
const emit = (rid: string, ev: EngineEvent) => outbox.push([rid, ev]);
const flush = () => {
  if (!outbox.length) return;
  post({ op: "events", items: outbox });
  outbox = [];
};

self.onmessage = (e: MessageEvent<WorkerInit>) => {
  const init = e.data;
  workerState.doorbell = new Int32Array(init.doorbell);
  workerState.rpcLock = new Int32Array(init.rpcLock);
  setLogLevel(parseLevel(init.logLevel));
  const log = createLogger(`worker.${init.deviceIndex}`);
  let lib;
  try {
    lib = openLlamaLibrary({ dir: init.libraryDir, primary: false });
  } catch (err) {
    post({ op: "initFailed", message: (err as Error).message });
    return;
  }
  const device = listDevices(lib).find((d) => d.index === init.deviceIndex);
  if (!device) {
    post({ op: "initFailed", message: `device index ${init.deviceIndex} not found` });
    return;
  }
  const handle = deviceHandle(lib, init.deviceIndex);
  const isGpu = device.type === "gpu" || device.type === "igpu";
  const models = new Map<string, LoadedModel>();
  const loading = new Map<string, AbortController>();

  const need = (key: string): LoadedModel => {
    const m = models.get(key);
    if (!m) throw new EngineError("not_loaded", `model ${key} is not loaded on ${device.name}`);
    return m;
  };
  const fail = (id: number, err: unknown) => {
    const e = err as Error;
    const code = e instanceof EngineError
      ? e.code
      : e instanceof LoadCancelledError
      ? "load_cancelled"
      : "load_failed";
    const limit = e instanceof EngineError ? e.limit : undefined;
    post({ op: "err", id, code, message: e.message, ...(limit ? { limit } : {}) });
  };

  const handlers = async (m: Request): Promise<void> => {
    switch (m.op) {
      case "load": {
        if (models.has(m.key) || loading.has(m.key)) {
          throw new EngineError(
            "bad_request",
            `model ${m.key} is already loaded on ${device.name}`,
          );
        }
        const ac = new AbortController();
        loading.set(m.key, ac);
        workerState.loads++;
        try {
          let last = -1;
          const handleOf = (i: number) => deviceHandle(lib, i);
          const lm = await LoadedModel.load(lib, m.key, m.path, m.opts, {
            handle,
            isGpu,
            handleOf,
          }, {
            emit,
            flush,
            signal: ac.signal,
            onProgress: (f) => {
              // Progress arrives per tensor; forward whole percents only.
              const pct = Math.floor(f * 100);
              if (pct !== last) {
                last = pct;
                post({ op: "progress", key: m.key, fraction: f });
              }
            },
          });
          // Abandoned meanwhile (its RPC server lost): the main thread has given up on it.
          if (loading.get(m.key) !== ac) return;
          models.set(m.key, lm);
          log.info("model loaded", { key: m.key, device: device.name });
          post({ op: "ok", id: m.id, value: lm.info });
        } finally {
          // An abandoned load stopped counting when it was abandoned.
          if (loading.get(m.key) === ac) {
            loading.delete(m.key);
            workerState.loads--;
          }
        }
        return;
      }
      case "cancelLoad":
        loading.get(m.key)?.abort();
        return;
      case "unload": {
        const lm = need(m.key);
        models.delete(m.key);
        await lm.unload();
        log.info("model unloaded", { key: m.key, device: device.name });
        post({ op: "ok", id: m.id, value: null });
        return;
      }
      case "generate":
        try {
          need(m.key).scheduler.submit(m.rid, m.params);
        } catch (err) {
          const e = err as Error;
          emit(m.rid, {
            type: "error",
            code: e instanceof EngineError ? e.code : "bad_request",
            message: e.message,
            ...(e instanceof EngineError && e.limit ? { limit: e.limit } : {}),
          });
          flush();
        }
        return;
      case "cancel":
        models.get(m.key)?.scheduler.cancel(m.rid);
        return;
      case "abandon":
        // Its RPC server is gone: calls into it never return, so it is forgotten, not freed,
        // and its parked loop or load no longer counts (they would keep the worker's other
        // models off the on-thread decode path for good).
        models.get(m.key)?.scheduler.abandon();
        models.delete(m.key);
        if (loading.delete(m.key)) workerState.loads--;
        log.warn("model abandoned", {
          key: m.key,
          device: device.name,
          busy_loops: workerState.busyLoops,
          loads: workerState.loads,
        });
        return;
      case "tokenize": {
        const t = need(m.key).model.vocab.tokenize(m.text, {
          addSpecial: m.addSpecial,
          special: true,
        });
        post({ op: "ok", id: m.id, value: Array.from(t) });
        return;
      }
      case "embed": {
        const lm = need(m.key);
        if (!lm.embedder) {
          throw new EngineError("bad_request", `model ${m.key} was not loaded with embeddings`);
        }
        post({ op: "ok", id: m.id, value: await lm.embedder.embed(m.inputs) });
        return;
      }
      case "stats": {
        const dev = listDevices(lib).find((d) => d.index === init.deviceIndex) ?? device;
        post({
          op: "ok",
          id: m.id,
          value: {
            device: dev,
            models: [...models.values()].map((x) => x.scheduler.stats(x.info.key)),
          },
        });
        return;
      }
      case "device":
        post({ op: "ok", id: m.id, value: device });
        return;
    }
  };

  self.onmessage = (ev: MessageEvent<Request>) => {
    workerState.received++;
    const m = ev.data;
    handlers(m).catch((err) => {
      if ("id" in m) fail(m.id, err);
      else log.error(`${m.op} failed`, { error: (err as Error).message });
    });
  };
  post({ op: "ready", device, version: lib.version, systemInfo: lib.systemInfo });
};
