/**
 * Starts the gateway from cortex.toml and models.toml: fleet poller,
 * catalogue, lifecycle, evictor, the API listener and the metrics listener.
 * With no [[neurons]] configured it runs a neuron in the same process on
 * loopback (the embedded default) and fronts that.
 */

import type { CortexConfig, ModelsConfig, NeuronConfig } from "../core/config/mod.ts";
import { loadNeuronConfig, splitHostPort } from "../core/config/mod.ts";
import { createLogger } from "../core/log.ts";
import { servedPath } from "../core/request_path.ts";
import { ResponseStore } from "../core/responses/mod.ts";
import { type RunningNeuron, serveNeuron } from "../neuron/serve.ts";
import { errorResponse, HttpError } from "../core/errors.ts";
import { createGatewayHandler } from "./app.ts";
import { createDashboard } from "./dashboard/mod.ts";
import { Catalogue } from "./catalogue.ts";
import { Deadlines } from "./deadlines.ts";
import { Evictor } from "./evictor.ts";
import { Fleet } from "./fleet.ts";
import { Lifecycle } from "./lifecycle.ts";
import { startMemoryReclaim } from "./memory_reclaim.ts";
import { GatewayMetrics } from "./metrics.ts";
import { NEURON_POOL_IDLE_MS, type NeuronTarget } from "./neuron_client.ts";
import type { Gateway } from "./routes/common.ts";
import { readPem, readTlsFiles, type TlsFiles } from "./tls.ts";
import { UsageTracker } from "./usage.ts";

export interface RunningGateway {
  gateway: Gateway;
  url: string;
  metricsUrl: string;
  embedded: RunningNeuron | null;
  shutdown(deadlineMs?: number): Promise<void>;
}

export const EMBEDDED_NEURON = "local";

export async function serveGateway(
  config: CortexConfig,
  models: ModelsConfig,
  opts: {
    env?: Record<string, string | undefined>;
    embeddedNeuron?: NeuronConfig;
    /** The cortex.toml the config came from, for errors about files it names. */
    configFile?: string;
  } = {},
): Promise<RunningGateway> {
  const log = createLogger("gateway");
  const file = opts.configFile ?? "cortex.toml";
  // Read before anything starts: a missing certificate stops the start (exit 2).
  const tls = await readTlsFiles(config.gateway, file);
  let embedded: RunningNeuron | null = null;
  let targets: NeuronTarget[] = await Promise.all(config.neurons.map(async (n, i) => ({
    name: n.name,
    endpoint: n.endpoint,
    token: n.token,
    ...(n.ca_cert === undefined
      ? {}
      : { caCerts: [await readPem(file, `neurons[${i}].ca_cert`, n.ca_cert, "CERTIFICATE")] }),
  })));
  if (!targets.length) {
    const ncfg = opts.embeddedNeuron ??
      await loadNeuronConfig(config.embedded.neuron_config, opts.env ?? {});
    embedded = await serveNeuron(ncfg, { name: EMBEDDED_NEURON, listen: "127.0.0.1:0" });
    targets = [{ name: EMBEDDED_NEURON, endpoint: embedded.url, token: ncfg.token }];
    log.info("no [[neurons]] configured: serving an embedded neuron", {
      models: ncfg.model_dirs.join(","),
    });
  }

  const g = config.gateway;
  const fleet = new Fleet(targets, { pollIntervalMs: g.poll_interval, downAfterMs: g.down_after });
  const catalogue = new Catalogue(fleet, models.models);
  const usage = new UsageTracker();
  const metrics = new GatewayMetrics({ nodes: targets.map((t) => t.name) });
  const refreshKnown = () => {
    catalogue.rebuild();
    metrics.setKnownModels(catalogue.knownModels());
  };
  fleet.onChange(refreshKnown);
  // Only resident models feed the per-model gauges: store files nobody loaded have no
  // catalogue id and would all collapse into a spurious model="unknown" series.
  metrics.setFleetSource(() =>
    fleet.snapshot().map((n) => ({
      ...n,
      models: n.models.filter((m) => m.state === "loaded" || m.state === "loading"),
    }))
  );
  const lifecycle = new Lifecycle(fleet, catalogue, usage, metrics, {
    strategy: config.eviction.strategy,
    loadTimeoutMs: g.load_timeout,
    queueTimeoutMs: config.queue.timeout,
    maxWaitMs: config.queue.max_wait,
    maxBatch: config.queue.max_batch,
    minResidencyMs: config.queue.min_residency,
  });
  const gateway: Gateway = {
    fleet,
    catalogue,
    lifecycle,
    usage,
    metrics,
    responses: new ResponseStore({
      maxEntries: config.responses.max_entries,
      maxAgeMs: config.responses.max_age,
    }),
    deadlines: g.request_timeout > 0 ? new Deadlines(g.request_timeout) : null,
    closing: new AbortController(),
    options: {
      maxBodyBytes: g.max_body_bytes,
      streamIdleMs: g.stream_idle_timeout,
      apiKeys: config.auth.api_keys,
      adminKeys: config.auth.admin_keys,
      idleTtlMs: config.eviction.idle_ttl,
    },
  };
  if (config.auth.api_keys.length && !config.auth.admin_keys.length) {
    log.warn(
      "every API key may load, unload and pull models: set [auth] admin_keys to keep that to operators",
    );
  }
  await fleet.start();
  refreshKnown();
  const evictor = new Evictor(fleet, lifecycle, {
    idleTtlMs: config.eviction.idle_ttl,
    defragAfterCycles: config.eviction.defrag_after_cycles,
    intervalMs: Math.max(250, Math.min(g.poll_interval, config.eviction.idle_ttl || Infinity)),
  });
  evictor.start();
  const reclaim = startMemoryReclaim({
    load: () => usage.total(),
    // Once the pool has closed the burst's idle connections (within twice its timeout).
    again: Math.ceil((2 * NEURON_POOL_IDLE_MS) / 1000) + 1,
  });

  const dashboard = await createDashboard({
    fleet,
    catalogue,
    queue: lifecycle.queue,
    usage,
    metrics,
  });
  const api = listen(g.listen, createGatewayHandler(gateway, dashboard), tls);
  const met = listen(g.metrics_listen, async (req) => {
    let path: string;
    try {
      path = servedPath(req);
    } catch (e) {
      return new Response(`${(e as Error).message}\n`, { status: 400 });
    }
    if (path !== "/metrics") return new Response("not found\n", { status: 404 });
    const { body, contentType } = await metrics.render();
    return new Response(body, { headers: { "content-type": contentType } });
  });
  const apiUrl = urlOf(api.server.addr, tls ? "https" : "http");
  const metricsUrl = urlOf(met.server.addr, "http");
  log.info("gateway listening", { api: apiUrl, metrics: metricsUrl, neurons: targets.length });
  return {
    gateway,
    url: apiUrl,
    metricsUrl,
    embedded,
    async shutdown(deadlineMs = 30_000) {
      evictor.stop();
      reclaim.stop();
      fleet.stop();
      // Dashboards' streams never end by themselves: close them so the drain below can finish.
      dashboard.close();
      let timer: ReturnType<typeof setTimeout> | undefined;
      const deadline = new Promise<boolean>((r) => timer = setTimeout(() => r(false), deadlineMs));
      // New connections are refused at once; streams in flight may finish until the deadline.
      const done = Promise.all([api.server.shutdown(), met.server.shutdown()]);
      const drained = await Promise.race([done.then(() => true), deadline]);
      clearTimeout(timer);
      if (!drained) {
        // Cut what is still running: each stream ends with an error event in its dialect.
        gateway.closing.abort(
          new HttpError(503, "the gateway is shutting down", { code: "shutting_down" }),
        );
        await done;
      }
      fleet.close();
      await embedded?.shutdown(Math.max(1000, deadlineMs / 2));
      log.info("gateway stopped");
    },
  };
}

function urlOf(addr: Deno.Addr, scheme: "http" | "https"): string {
  const a = addr as Deno.NetAddr;
  const host = a.hostname === "0.0.0.0"
    ? "127.0.0.1"
    : a.hostname === "::"
    ? "[::1]"
    : a.hostname.includes(":")
    ? `[${a.hostname}]`
    : a.hostname;
  return `${scheme}://${host}:${a.port}`;
}

/** A listener on `Deno.serve` (hyper): HTTP/1.1, and HTTP/2 by ALPN when it has TLS. */
function listen(
  address: string,
  handler: Deno.ServeHandler<Deno.NetAddr>,
  tls?: TlsFiles | null,
) {
  const { hostname, port } = splitHostPort(address);
  const server = Deno.serve({
    hostname,
    port,
    ...(tls ?? {}),
    onListen: () => {},
    onError: (e) => {
      // A handler that throws is our bug: the client still gets an envelope, not a bare 500.
      createLogger("gateway.http").error("unhandled", { error: String(e) });
      return errorResponse(new HttpError(500, "internal error"), "openai");
    },
  }, handler);
  return { server };
}
