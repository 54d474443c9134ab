/**
 * `deno task bench gateway`: what the gateway costs as a proxy of LLM traffic. A canned
 * stand-in neuron streams one event every 20 ms, 500 per stream; N streams (1, 256, 1,024)
 * are opened at once and read to the end (and while they are open, a few more arrive one by
 * one, whose first token is timed apart), direct, through the gateway (`cli/cortex.ts serve`
 * in its own process), through a bare `Deno.serve` + `fetch` relay (the runtime's floor) and
 * through nginx `proxy_pass`, in interleaved rounds so machine noise
 * hits every peer alike. Per peer and N: TTFT, gaps between events, stalls, failures, the
 * proxy's CPU per event and its RSS; whole-answer req/s by wrk as a short secondary table.
 */

import { type Spawned, spawnServer, writeConfig } from "../helpers/processes.ts";
import { type Backend, startCanned } from "./gateway/backend.ts";
import { ClientPool } from "./gateway/client_pool.ts";
import type { StreamSpec } from "./gateway/stream_client.ts";
import { cpuMs, cpuMsOf } from "./gateway/cpu.ts";
import { FetchLoad, type LoadGenerator, WrkLoad } from "./gateway/load.ts";
import { optionsOrExitCode } from "./common/options.ts";
import { type GatewayBenchOptions, parseOptions } from "./gateway/options.ts";
import { startBareRelay, startNginx } from "./gateway/processes.ts";
import {
  type GatewayBenchResult,
  ms,
  type PeerName,
  renderReport,
  type StreamFigures,
  streamFigures,
  type WholeFigures,
} from "./gateway/report.ts";
import { rssKiB, sampleRssPeak } from "./gateway/rss.ts";
import { median } from "./gateway/stats.ts";

const progress = (line: string) => console.error(`bench gateway: ${line}`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Peer {
  name: PeerName;
  url: string;
  /** The proxy process whose CPU time and RSS are read; null for direct. */
  pid: number | null;
  /** What its process logged so far. */
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

/** The soft limit on open files of this process (and so of the proxies it starts). */
async function fdLimit(): Promise<number> {
  const out = await new Deno.Command("sh", { args: ["-c", "ulimit -n"], stdout: "piped" })
    .output();
  const v = new TextDecoder().decode(out.stdout).trim();
  return v === "unlimited" ? Infinity : Number(v);
}

interface Bench {
  opts: GatewayBenchOptions;
  backend: Backend;
  clients: ClientPool;
  load: LoadGenerator | null;
  notes: string[];
}

/**
 * The streams that arrive one by one while the N (2 or more) are open, as agents' new turns
 * do: from a fifth into the N streams' length to four fifths, by which time the burst's first
 * tokens are long out; each a short answer that ends before the N do.
 */
function arrivals(b: Bench, n: number): StreamSpec["arrivals"] {
  const { opts, backend } = b;
  // One stream alone is the cost of a token that wakes the loop by itself: kept unmixed.
  if (!opts.arrivals || n < 2) return undefined;
  const length = opts.events * opts.intervalMs;
  return {
    count: opts.arrivals,
    afterMs: length / 5,
    everyMs: (length * 3 / 5) / opts.arrivals,
    body: backend.body.arrival,
    minEvents: backend.arrivalEvents + 3,
  };
}

/** N streams opened at once through `peer`, read to the end, with the processes' CPU and RSS. */
async function measureStreams(b: Bench, peer: Peer, n: number): Promise<StreamFigures> {
  const { opts } = b;
  const largest = n === opts.concurrency.at(-1);
  const cpu = () => Promise.all([cpuMs(peer.pid), cpuMs(b.backend.pid), cpuMsOf(b.clients.pids)]);
  const rssBefore = await rssKiB(peer.pid);
  const logBefore = peer.log().length;
  const cpu0 = await cpu();
  const peak = sampleRssPeak(peer.pid);
  const tally = await b.clients.run({
    url: `${peer.url}/v1/chat/completions`,
    body: b.backend.body.stream,
    streams: n,
    minEvents: opts.events + 3, // role, content…, finish, [DONE]
    stallMs: 100,
    timeoutMs: opts.events * opts.intervalMs + 60_000,
    arrivals: arrivals(b, n),
  });
  const cpu1 = await cpu();
  const rssPeak = await peak.stop();
  const spent = (i: number) => cpu0[i] === null || cpu1[i] === null ? null : cpu1[i]! - cpu0[i]!;
  let rssAfter = NaN;
  if (largest && peer.pid !== null) {
    await sleep(opts.settleS * 1000);
    rssAfter = await rssKiB(peer.pid);
  }
  const logged = peer.log().slice(logBefore).trim();
  if (logged) {
    const lines = logged.split("\n");
    b.notes.push(
      `${peer.name}, N = ${n}: logged ${lines.length} line(s), first: ${lines[0].slice(0, 300)}`,
    );
  }
  if (peer.pid !== null && await cpuMs(peer.pid) === null) {
    b.notes.push(`${peer.name} process was gone after N = ${n}`);
  }
  return streamFigures(
    tally,
    { proxy: spent(0), backend: spent(1), clients: spent(2) },
    { before: rssBefore, peak: rssPeak, after: rssAfter },
  );
}

/** Whole answers by the load generator: 1 client, then `wrkClients` with the proxy's CPU. */
async function measureWhole(
  b: Bench,
  load: LoadGenerator,
  peer: Peer,
  seconds: number,
): Promise<WholeFigures> {
  const url = `${peer.url}/v1/chat/completions`;
  const body = b.backend.body.whole;
  const one = await load.run({ url, body, clients: 1, seconds });
  const before = await cpuMs(peer.pid);
  const many = await load.run({ url, body, clients: b.opts.wrkClients, seconds });
  const after = await cpuMs(peer.pid);
  const cpuUs = before === null || after === null || !many.requests
    ? NaN
    : ((after - before) * 1000) / many.requests;
  return { one, many, cpuUs };
}

const describe = (f: StreamFigures) =>
  `${f.completed}/${f.streams} ok, TTFT p50 ${ms(f.ttftP50Ms)} p99 ${ms(f.ttftP99Ms)} ms ` +
  `(arriving ${ms(f.arrivalTtftP50Ms)} / ${ms(f.arrivalTtftP99Ms)}), ` +
  `gap p99 ${ms(f.gapP99Ms)} max ${ms(f.gapMaxMs)} ms, ${f.stalls} gaps ≥ 100 ms` +
  (Number.isFinite(f.proxyCpuUs) ? `, ${f.proxyCpuUs.toFixed(1)} µs/event` : "") +
  (Number.isFinite(f.rssMiB.peak) ? `, RSS peak ${f.rssMiB.peak.toFixed(0)} MiB` : "");

/** Notes on what the tables leave out: failures by reason, where the other CPU went. */
function figureNotes(r: GatewayBenchResult["streams"], notes: string[]): void {
  for (const { n, peers } of r) {
    for (const [name, rounds] of Object.entries(peers)) {
      const reasons: Record<string, number> = {};
      for (const f of rounds) {
        for (const [k, v] of Object.entries(f.failures)) reasons[k] = (reasons[k] ?? 0) + v;
      }
      const list = Object.entries(reasons).map(([k, v]) => `${k}: ${v}`).join(", ");
      if (list) notes.push(`${name}, N = ${n}: failed streams over all rounds: ${list}`);
    }
  }
  const last = r.at(-1);
  if (!last) return;
  const per = (get: (f: StreamFigures) => number) =>
    Object.entries(last.peers).map(([p, rounds]) => `${p} ${median(rounds.map(get)).toFixed(1)}`)
      .join(", ");
  notes.push(
    `N = ${last.n}, CPU µs per event (medians): backend ${per((f) => f.backendCpuUs)}; ` +
      `stream clients ${per((f) => f.clientCpuUs)}`,
  );
}

export async function main(args: string[]): Promise<number> {
  const opts = optionsOrExitCode(() => parseOptions(args));
  if (typeof opts === "number") return opts;
  const started = performance.now();
  const stops: (() => Promise<void>)[] = [];
  try {
    const notes: string[] = [];
    const maxN = opts.concurrency.at(-1)!;
    const limit = await fdLimit();
    // A proxy holds two sockets per stream (client side, backend side).
    if (limit < 2 * maxN + 256) {
      progress(`open-file limit ${limit} is low for ${maxN} streams; raise it (ulimit -n 65536)`);
      notes.push(`open-file limit ${limit}: proxies may run out of sockets at N = ${maxN}`);
    }
    let load: LoadGenerator | null = null;
    if (!opts.skipWrk) {
      const wrk = await WrkLoad.find();
      if (wrk) stops.push(() => wrk.close());
      load = wrk ?? new FetchLoad();
      progress(`whole answers by: ${load.name}`);
    }
    const backend = await startCanned(opts.events, opts.intervalMs);
    stops.push(backend.stop);
    const { gw: gateway, stop: stopGateway } = await startGateway(backend);
    stops.push(stopGateway);
    const peers: Peer[] = [
      { name: "direct", url: backend.url, pid: null, log: backend.log },
      { name: "gateway", url: gateway.url, pid: gateway.proc.pid, log: gateway.log },
    ];
    if (!opts.skipRelay) {
      const relay = await startBareRelay(backend.url);
      stops.push(relay.stop);
      peers.push({ name: "relay", url: relay.url, pid: relay.pid, log: relay.log });
    }
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
    const clients = await ClientPool.start(opts.clientProcesses);
    stops.push(() => clients.close());
    const b: Bench = { opts, backend, clients, load, notes };

    const loadavg = () => Deno.loadavg().map((x) => x.toFixed(2)).join(" ");
    notes.push(`load average before: ${loadavg()} (${navigator.hardwareConcurrency} CPUs)`);
    if (load) {
      progress("warm-up: 1 s of whole answers per peer");
      for (const p of peers) await measureWhole(b, load, p, 1);
    }

    const streams: GatewayBenchResult["streams"] = opts.concurrency.map((n) => ({
      n,
      peers: {},
    }));
    const wholeFigures: GatewayBenchResult["wholeFigures"] = {};
    for (let round = 0; round < opts.rounds; round++) {
      // Rotate the order so no peer always runs first (or right after the same neighbour).
      const order = peers.map((_, i) => peers[(i + round) % peers.length]);
      for (const s of streams) {
        for (const p of order) {
          const f = await measureStreams(b, p, s.n);
          (s.peers[p.name] ??= []).push(f);
          progress(`round ${round + 1}/${opts.rounds}, N = ${s.n}, ${p.name}: ${describe(f)}`);
          await sleep(1000); // let closed connections drain before the next peer
        }
      }
      if (load) {
        const parts: string[] = [];
        for (const p of order) {
          const f = await measureWhole(b, load, p, opts.wrkSeconds);
          (wholeFigures[p.name] ??= []).push(f);
          parts.push(`${p.name} ${f.many.rps.toFixed(0)} req/s`);
        }
        progress(`round ${round + 1}/${opts.rounds}, whole answers: ${parts.join("; ")}`);
      }
    }
    notes.push(`load average after: ${loadavg()}`);
    figureNotes(streams, notes);

    const result: GatewayBenchResult = {
      command: ["deno task bench gateway", ...args].join(" "),
      backend: backend.describe,
      client: `${opts.clientProcesses} processes of raw HTTP/1.1 sockets, all N streams opened ` +
        "at once, events counted by their bytes; TTFT from request written to first content " +
        `event; "arriving": ${opts.arrivals} more streams of ${backend.arrivalEvents} events ` +
        "sent one by one while the N are open",
      nginx: nginxLabel,
      nginxMissing,
      rounds: opts.rounds,
      settleS: opts.settleS,
      streams,
      whole: load
        ? { loadGenerator: load.name, clients: opts.wrkClients, seconds: opts.wrkSeconds }
        : null,
      wholeFigures,
      notes,
      wallS: (performance.now() - started) / 1000,
    };
    console.log(opts.json ? JSON.stringify(result, null, 2) : renderReport(result));
    return 0;
  } finally {
    for (const stop of stops.reverse()) await stop().catch(() => {});
  }
}

if (import.meta.main) Deno.exit(await main(Deno.args));
