/**
 * The typed messages between the main thread and a device worker. Pointers
 * never cross: the worker owns every llama.cpp object.
 */

import type { DeviceInfo } from "../llama/devices.ts";
import type { EmbeddingResult } from "./embedder.ts";
import type {
  ContextLimit,
  EngineErrorCode,
  EngineEvent,
  GenerateParams,
  LoadedModelInfo,
  LoadOptions,
  ModelStats,
} from "./types.ts";

export interface WorkerInit {
  /** ggml device index this worker owns. */
  deviceIndex: number;
  libraryDir?: string;
  logLevel: string;
  /** Rung (incremented) by the main thread with every message; see worker_state.ts. */
  doorbell: SharedArrayBuffer;
  /** The process-wide lock of decodes over RPC devices (rpc_lock.ts). */
  rpcLock: SharedArrayBuffer;
}

export type Request =
  | { op: "load"; id: number; key: string; path: string; opts: LoadOptions }
  | { op: "cancelLoad"; key: string }
  | { op: "unload"; id: number; key: string }
  | { op: "generate"; key: string; rid: string; params: GenerateParams }
  | { op: "cancel"; key: string; rid: string }
  /** Forget a model whose RPC server was lost, without touching it (see rpc.ts). */
  | { op: "abandon"; key: string }
  | { op: "tokenize"; id: number; key: string; text: string; addSpecial: boolean }
  | { op: "embed"; id: number; key: string; inputs: (string | number[])[] }
  | { op: "stats"; id: number }
  | { op: "device"; id: number };

export interface WorkerStats {
  device: DeviceInfo;
  models: ModelStats[];
}

/** Result payloads by op. */
export interface Results {
  load: LoadedModelInfo;
  unload: null;
  tokenize: number[];
  embed: EmbeddingResult;
  stats: WorkerStats;
  device: DeviceInfo;
}

export type Reply =
  | { op: "ready"; device: DeviceInfo; version: string; systemInfo: string }
  | { op: "initFailed"; message: string }
  | { op: "ok"; id: number; value: unknown }
  | {
    op: "err";
    id: number;
    code: EngineErrorCode | "load_failed" | "load_cancelled";
    message: string;
    limit?: ContextLimit;
  }
  | { op: "progress"; key: string; fraction: number }
  /** Events of many requests, batched per scheduler step. */
  | { op: "events"; items: [rid: string, ev: EngineEvent][] };
