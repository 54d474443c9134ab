/**
 * `deno task bench gateway`: what the gateway costs as a proxy. One backend (a canned
 * stand-in neuron, or a real one with `--backend neuron`) is measured direct, through the
 * gateway (`cli/cortex.ts serve` in its own process) and through nginx `proxy_pass` when
 * nginx is installed, in interleaved rounds so machine noise hits every peer alike: whole
 * answers and streams, at 1 client and under load.
 */

import { type Spawned, spawnServer, writeConfig } from "../helpers/processes.ts";
import { type Backend, startCanned, startNeuron } from "./gateway/backend.ts";
import { cpuMs } from "./gateway/cpu.ts";
import { FetchLoad, type LoadGenerator, type LoadSpec, WrkLoad } from "./gateway/load.ts";
import { optionsOrExitCode } from "./common/options.ts";
import { parseOptions } from "./gateway/options.ts";
import { startNginx } from "./gateway/processes.ts";
import { type PeerName, renderReport, type RoundFigures, summarize } from "./gateway/report.ts";
import { measureStreams } from "./gateway/stream_client.ts";

const progress = (line: string) => console.error(`bench gateway: ${line}`);

interface Peer {
  name: PeerName;
  url: string;
  /** The proxy process whose CPU time is counted; null for direct. */
  pid: number | null;
  /** What its process logged, for a failing measurement. */
  log(): string;
}

/** The gateway process, and a stop that also removes its config. */
async function startGateway(backend: Backend): Promise<{ gw: Spawned; stop(): Promise<void> }> {
  const config = await writeConfig(
    "cortex.toml",
    `[gateway]
listen = "127.0.0.1:0"
metrics_listen = "127.0.0.1:0"

[[neurons]]
name = "backend"
endpoint = "${backend.url}"
`,
  );
  const removeConfig = () => Deno.remove(dirname(config), { recursive: true }).catch(() => {});
  let gw: Spawned;
  try {
    gw = await spawnServer("cli/cortex.ts", config, { env: { CORTEX_LOG: "warn" } });
  } catch (e) {
    await removeConfig();
    throw e;
  }
  const stop = async () => {
    await gw.stop();
    await removeConfig();
  };
  // The first poll has run before it listens; make sure it routes before measuring.
  const res = await fetch(`${gw.url}/v1/chat/completions`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: backend.body.whole,
  });
  const text = await res.text();
  if (!res.ok) {
    await stop();
    throw new Error(`the gateway does not route to the backend: ${res.status} ${text}`);
  }
  return { gw, stop };
}

const dirname = (path: string) => path.slice(0, path.lastIndexOf("/"));

async function measure(
  peer: Peer,
  backend: Backend,
  load: LoadGenerator,
  clients: number,
  seconds: number,
): Promise<RoundFigures> {
  try {
    return await measureOnce(peer, backend, load, clients, seconds);
  } catch (e) {
    const log = peer.log().trim().split("\n").slice(-20).join("\n");
    throw new Error(
      `${peer.name}: ${(e as Error).message}${log ? `\n${peer.name} log:\n${log}` : ""}`,
    );
  }
}

async function measureOnce(
  peer: Peer,
  backend: Backend,
  load: LoadGenerator,
  clients: number,
  seconds: number,
): Promise<RoundFigures> {
  const url = `${peer.url}/v1/chat/completions`;
  const { whole, stream } = backend.body;
  const counted = async (spec: LoadSpec) => {
    const before = await cpuMs(peer.pid);
    const r = await load.run(spec);
    const after = await cpuMs(peer.pid);
    const cpuUs = before === null || after === null || !r.requests
      ? NaN
      : ((after - before) * 1000) / r.requests;
    return { r, cpuUs };
  };
  const whole1 = await counted({ url, body: whole, clients: 1, seconds });
  const wholeN = await counted({ url, body: whole, clients, seconds });
  const streamN = await counted({ url, body: stream, clients, seconds });
  return {
    whole1: whole1.r,
    wholeN: wholeN.r,
    streamN: streamN.r,
    stream1: await measureStreams({ url, body: stream, clients: 1, seconds }),
    streamLatN: await measureStreams({ url, body: stream, clients, seconds }),
    cpuUs: { whole1: whole1.cpuUs, wholeN: wholeN.cpuUs, streamN: streamN.cpuUs },
  };
}

export async function main(args: string[]): Promise<number> {
  const opts = optionsOrExitCode(() => parseOptions(args));
  if (typeof opts === "number") return opts;
  const stops: (() => Promise<void>)[] = [];
  try {
    const wrk = await WrkLoad.find();
    if (wrk) stops.push(() => wrk.close());
    const load: LoadGenerator = wrk ?? new FetchLoad();
    progress(`load generator: ${load.name}`);

    const backend = opts.backend === "canned"
      ? await startCanned(opts.chunks, opts.delayMs)
      : await startNeuron(opts.clients);
    stops.push(backend.stop);
    const { gw: gateway, stop: stopGateway } = await startGateway(backend);
    stops.push(stopGateway);
    const peers: Peer[] = [
      { name: "direct", url: backend.url, pid: null, log: backend.log },
      { name: "gateway", url: gateway.url, pid: gateway.proc.pid, log: gateway.log },
    ];
    let nginxLabel: string | null = null;
    let nginxMissing: string | null = opts.skipNginx ? "skipped (--skip-nginx)" : null;
    if (!opts.skipNginx) {
      const nginx = await startNginx(backend.url, opts.nginxWorkers);
      if (nginx) {
        stops.push(nginx.stop);
        peers.push({ name: "nginx", url: nginx.url, pid: nginx.pid, log: nginx.log });
        nginxLabel = `${nginx.version}, ${opts.nginxWorkers} worker${
          opts.nginxWorkers > 1 ? "s" : ""
        }, proxy_pass with upstream keepalive, proxy_buffering off`;
      } else {
        nginxMissing = "not installed (Debian: apt-get install nginx)";
        progress("nginx is not installed: measuring direct and gateway only");
      }
    }

    const notes: string[] = [];
    const loadavg = () => Deno.loadavg().map((x) => x.toFixed(2)).join(" ");
    notes.push(`load average before: ${loadavg()} (${navigator.hardwareConcurrency} CPUs)`);
    progress("warm-up");
    for (const p of peers) await measure(p, backend, load, opts.clients, 1);

    const figures: Partial<Record<PeerName, RoundFigures[]>> = {};
    for (let round = 0; round < opts.rounds; round++) {
      // Rotate the order so no peer always runs first (or right after the same neighbour).
      const order = peers.map((_, i) => peers[(i + round) % peers.length]);
      const parts: string[] = [];
      for (const p of order) {
        const f = await measure(p, backend, load, opts.clients, opts.seconds);
        (figures[p.name] ??= []).push(f);
        parts.push(
          `${p.name} ${f.wholeN.rps.toFixed(0)} req/s, ${f.streamN.rps.toFixed(0)} streams/s`,
        );
      }
      progress(`round ${round + 1}/${opts.rounds} at ${opts.clients} clients: ${parts.join("; ")}`);
    }
    notes.push(`load average after: ${loadavg()}`);
    for (const p of peers) {
      const rounds = figures[p.name] ?? [];
      const errors = rounds.reduce(
        (n, f) =>
          n + f.whole1.errors + f.wholeN.errors + f.streamN.errors + f.stream1.errors +
          f.streamLatN.errors,
        0,
      );
      if (errors) notes.push(`${p.name}: ${errors} failed requests or streams`);
      const expected = backend.tokensPerStream;
      const short = rounds.filter((f) =>
        expected !== null && f.stream1.tokensPerStream !== expected
      );
      if (short.length) {
        notes.push(`${p.name}: streams carried a token count other than ${expected}`);
      }
    }

    const result = summarize({
      backend: backend.describe,
      loadGenerator: load.name,
      nginx: nginxLabel,
      nginxMissing,
      rounds: opts.rounds,
      seconds: opts.seconds,
      clients: opts.clients,
      figures,
      notes,
    });
    console.log(opts.json ? JSON.stringify(result, null, 2) : renderReport(result));
    return 0;
  } finally {
    for (const stop of stops.reverse()) await stop().catch(() => {});
  }
}

if (import.meta.main) Deno.exit(await main(Deno.args));
