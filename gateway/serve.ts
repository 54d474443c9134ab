/**
 * Starts the gateway from cortex.toml and models.toml: fleet poller,
 * catalogue, lifecycle, evictor, the API listener and the metrics listener.
 * With no [[neurons]] configured it runs a neuron in the same process on
 * loopback (the embedded default) and fronts that.
 */

import type { CortexConfig, ModelsConfig, NeuronConfig } from "../core/config/mod.ts";
import { loadNeuronConfig, splitHostPort } from "../core/config/mod.ts";
import { createLogger } from "../core/log.ts";
import { requestPath } from "../core/request_path.ts";
import { ResponseStore } from "../core/responses/mod.ts";
import { type RunningNeuron, serveNeuron } from "../neuron/serve.ts";
import { errorBody, HttpError } from "../core/errors.ts";
import { createGatewayHandler } from "./app.ts";
import { type Handler, type Http1Server, serveHttp1 } from "./http1/server.ts";
import { Catalogue } from "./catalogue.ts";
import { Deadlines } from "./deadlines.ts";
import { Evictor } from "./evictor.ts";
import { Fleet } from "./fleet.ts";
import { Lifecycle } from "./lifecycle.ts";
import { GatewayMetrics } from "./metrics.ts";
import type { NeuronTarget } from "./neuron_client.ts";
import type { Gateway } from "./routes/common.ts";
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
  opts: { env?: Record<string, string | undefined>; embeddedNeuron?: NeuronConfig } = {},
): Promise<RunningGateway> {
  const log = createLogger("gateway");
  let embedded: RunningNeuron | null = null;
  let targets: NeuronTarget[] = config.neurons;
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
    options: {
      maxBodyBytes: g.max_body_bytes,
      streamIdleMs: 60_000,
      apiKeys: config.auth.api_keys,
    },
  };
  await fleet.start();
  refreshKnown();
  const evictor = new Evictor(fleet, lifecycle, {
    idleTtlMs: config.eviction.idle_ttl,
    defragAfterCycles: config.eviction.defrag_after_cycles,
    intervalMs: Math.max(250, Math.min(g.poll_interval, config.eviction.idle_ttl || Infinity)),
  });
  evictor.start();

  const api = serveApi(g.listen, createGatewayHandler(gateway));
  const met = listen(g.metrics_listen, async (req) => {
    if (requestPath(req.url) !== "/metrics") {
      return new Response("not found\n", { status: 404 });
    }
    const { body, contentType } = await metrics.render();
    return new Response(body, { headers: { "content-type": contentType } });
  });
  const apiUrl = urlOf(api.addr);
  const metricsUrl = await met.url;
  log.info("gateway listening", { api: apiUrl, metrics: metricsUrl, neurons: targets.length });
  return {
    gateway,
    url: apiUrl,
    metricsUrl,
    embedded,
    async shutdown(deadlineMs = 30_000) {
      evictor.stop();
      fleet.stop();
      let timer: ReturnType<typeof setTimeout> | undefined;
      const deadline = new Promise<boolean>((r) => timer = setTimeout(() => r(false), deadlineMs));
      const drained = await Promise.race([
        Promise.all([api.shutdown(), met.server.shutdown()]).then(() => true),
        deadline,
      ]);
      clearTimeout(timer);
      if (!drained) {
        api.close();
        met.abort.abort();
      }
      fleet.close();
      await embedded?.shutdown(Math.max(1000, deadlineMs / 2));
      log.info("gateway stopped");
    },
  };
}

/**
 * The API on the gateway's own HTTP/1.1 server (see http1/server.ts for why);
 * its refusals of malformed requests are OpenAI-style JSON errors.
 */
function serveApi(address: string, handler: Handler): Http1Server {
  const { hostname, port } = splitHostPort(address);
  return serveHttp1({
    hostname,
    port,
    refusal: (status, message) => ({
      status,
      headers: [["content-type", "application/json"]],
      body: new TextEncoder().encode(
        JSON.stringify(errorBody(new HttpError(status, message), "openai")),
      ),
    }),
  }, handler);
}

function urlOf(addr: Deno.NetAddr): string {
  const host = addr.hostname === "0.0.0.0"
    ? "127.0.0.1"
    : addr.hostname.includes(":")
    ? `[${addr.hostname}]`
    : addr.hostname;
  return `http://${host}:${addr.port}`;
}

/** The metrics listener: rare scrapes, so plain `Deno.serve`. */
function listen(address: string, handler: (req: Request) => Response | Promise<Response>) {
  const { hostname, port } = splitHostPort(address);
  const abort = new AbortController();
  let resolve!: (u: string) => void;
  const url = new Promise<string>((r) => resolve = r);
  const server = Deno.serve({
    hostname,
    port,
    signal: abort.signal,
    onListen: (a) => {
      const addr = a as Deno.NetAddr;
      resolve(`http://${addr.hostname === "0.0.0.0" ? "127.0.0.1" : addr.hostname}:${addr.port}`);
    },
  }, handler);
  return { server, abort, url };
}
