/**
 * Starts a neuron: engine, registry and HTTP server from a neuron.toml
 * config. Used by `neuron serve` and by `cortex serve`'s embedded mode.
 */

import type { NeuronConfig } from "../core/config/mod.ts";
import { splitHostPort } from "../core/config/mod.ts";
import { createLogger } from "../core/log.ts";
import { Neuron, type NeuronSettings } from "./node.ts";
import { createNeuronApp } from "./server/app.ts";

export interface RunningNeuron {
  neuron: Neuron;
  /** Base URL the server listens on, e.g. http://127.0.0.1:13131. */
  url: string;
  /** Stops accepting, lets requests finish until the deadline, unloads everything. */
  shutdown(deadlineMs?: number): Promise<void>;
}

const MiB = 1024 * 1024;

export function settingsFromConfig(c: NeuronConfig, name = Deno.hostname()): NeuronSettings {
  const cores = navigator.hardwareConcurrency || 2;
  return {
    name,
    modelDirs: c.model_dirs,
    devices: c.devices,
    memoryBudgets: Object.fromEntries(
      Object.entries(c.memory_budget_mb).map(([k, v]) => [k, v * MiB]),
    ),
    slots: c.slots,
    context: c.context,
    kvCacheType: c.kv_cache_type,
    // Generation is memory-bound: half the logical CPUs (physical cores) is the usual best.
    nThreads: c.n_threads ?? Math.max(1, Math.floor(cores / 2)),
    nThreadsBatch: c.n_threads_batch,
    nBatch: c.n_batch,
    maxQueue: c.max_queue,
    libraryPath: c.library_path,
    rpcServers: c.rpc_servers,
    rpcLibrary: c.rpc_library,
    logLevel: c.log_level,
  };
}

export async function serveNeuron(
  config: NeuronConfig,
  opts: { name?: string; listen?: string } = {},
): Promise<RunningNeuron> {
  const log = createLogger("neuron");
  const neuron = await Neuron.start(settingsFromConfig(config, opts.name));
  const handler = createNeuronApp(neuron, {
    token: config.token,
    maxBodyBytes: config.max_body_bytes,
  });
  const { hostname, port } = splitHostPort(opts.listen ?? config.listen);
  const ac = new AbortController();
  let onListen!: (addr: Deno.NetAddr) => void;
  const listening = new Promise<Deno.NetAddr>((r) => onListen = r);
  const server = Deno.serve({
    hostname,
    port,
    signal: ac.signal,
    onListen: (a) => onListen(a as Deno.NetAddr),
  }, handler);
  const addr = await listening;
  const shownHost = addr.hostname === "0.0.0.0" ? "127.0.0.1" : addr.hostname;
  const url = `http://${shownHost}:${addr.port}`;
  log.info("neuron listening", { url, models: config.model_dirs.join(",") });
  return {
    neuron,
    url,
    async shutdown(deadlineMs = 30_000) {
      const stopped = server.shutdown();
      let timer: ReturnType<typeof setTimeout> | undefined;
      const deadline = new Promise<void>((r) => timer = setTimeout(r, deadlineMs));
      const drained = await Promise.race([stopped.then(() => true), deadline.then(() => false)]);
      clearTimeout(timer);
      // Past the deadline: cut the remaining connections.
      if (!drained) ac.abort();
      await neuron.close();
      log.info("neuron stopped");
    },
  };
}
