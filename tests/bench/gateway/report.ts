/** The gateway bench's figures, their medians across rounds, and the markdown tables. */

import type { LoadResult } from "./load.ts";
import { median, ratio } from "./stats.ts";
import type { StreamTally } from "./stream_client.ts";

/** "relay": a bare `Deno.serve` + `fetch` relay (bare_relay.ts), the runtime's own floor. */
export const PEERS = ["direct", "relay", "gateway", "nginx"] as const;
export type PeerName = typeof PEERS[number];

/** What one peer's streams measured at one concurrency in one round. */
export interface StreamFigures {
  streams: number;
  completed: number;
  failures: Record<string, number>;
  events: number;
  connectP99Ms: number;
  /** TTFT of the streams opened at once. */
  ttftP50Ms: number;
  ttftP99Ms: number;
  /** TTFT of the streams that arrived one by one while the others were open (NaN: none). */
  arrivalTtftP50Ms: number;
  arrivalTtftP99Ms: number;
  gapP99Ms: number;
  gapMaxMs: number;
  /** Gaps of 100 ms or more (five missed ticks at the default 20 ms). */
  stalls: number;
  /** CPU per event read by the clients, of the proxy (NaN for direct), backend and clients. */
  proxyCpuUs: number;
  backendCpuUs: number;
  clientCpuUs: number;
  /** The proxy's RSS in MiB; NaN where not read (direct; "after" only at the largest N). */
  rssMiB: { before: number; peak: number; after: number };
}

/** CPU milliseconds spent over a measurement, per process kind (null: not readable). */
export interface CpuSpent {
  proxy: number | null;
  backend: number | null;
  clients: number | null;
}

/** One round's figures from what the clients tallied, the CPU spent and the RSS read (KiB). */
export function streamFigures(
  t: StreamTally,
  cpu: CpuSpent,
  rssKiB: { before: number; peak: number; after: number },
): StreamFigures {
  const perEvent = (ms: number | null) => (ms === null || !t.events ? NaN : (ms * 1000) / t.events);
  const mib = (kib: number) => kib / 1024;
  return {
    streams: t.streams,
    completed: t.completed,
    failures: t.failures,
    events: t.events,
    connectP99Ms: t.connect.percentile(99),
    ttftP50Ms: t.ttft.percentile(50),
    ttftP99Ms: t.ttft.percentile(99),
    arrivalTtftP50Ms: t.arrivalTtft.count ? t.arrivalTtft.percentile(50) : NaN,
    arrivalTtftP99Ms: t.arrivalTtft.count ? t.arrivalTtft.percentile(99) : NaN,
    gapP99Ms: t.gaps.percentile(99),
    gapMaxMs: t.gaps.max,
    stalls: t.stalls,
    proxyCpuUs: perEvent(cpu.proxy),
    backendCpuUs: perEvent(cpu.backend),
    clientCpuUs: perEvent(cpu.clients),
    rssMiB: { before: mib(rssKiB.before), peak: mib(rssKiB.peak), after: mib(rssKiB.after) },
  };
}

/** Whole answers by wrk in one round: 1 client, and `wrkClients` clients. */
export interface WholeFigures {
  one: LoadResult;
  many: LoadResult;
  /** Proxy CPU per answer under `wrkClients` clients (NaN for direct). */
  cpuUs: number;
}

export interface GatewayBenchResult {
  command: string;
  backend: string;
  client: string;
  /** nginx as measured, or null with the reason in `nginxMissing`. */
  nginx: string | null;
  nginxMissing: string | null;
  rounds: number;
  settleS: number;
  /** Per concurrency, per peer, per round. */
  streams: { n: number; peers: Partial<Record<PeerName, StreamFigures[]>> }[];
  /** Whole answers per peer, per round; null when skipped. */
  whole: { loadGenerator: string; clients: number; seconds: number } | null;
  wholeFigures: Partial<Record<PeerName, WholeFigures[]>>;
  notes: string[];
  wallS: number;
}

/** Milliseconds to a precision that fits their size. */
export function ms(v: number): string {
  if (!Number.isFinite(v)) return "–";
  return v.toFixed(v < 10 ? 2 : v < 100 ? 1 : 0);
}

const num = (v: number, digits = 0) => (Number.isFinite(v) ? v.toFixed(digits) : "–");
const times = (v: number) => (Number.isFinite(v) ? `${v.toFixed(2)}×` : "–");

/** A markdown table with padded columns (as `deno fmt` lays it out). */
export function markdownTable(head: string[], rows: string[][]): string {
  const widths = head.map((_, c) =>
    Math.max(3, ...[head, ...rows].map((row) => (row[c] ?? "").length))
  );
  const line = (cells: string[]) =>
    `| ${cells.map((cell, c) => (cell ?? "").padEnd(widths[c])).join(" | ")} |`;
  return [line(head), line(widths.map((w) => "-".repeat(w))), ...rows.map(line)].join("\n");
}

const medianOf = <T>(rounds: T[] | undefined, get: (f: T) => number) =>
  rounds?.length ? median(rounds.map(get)) : NaN;

interface Row<T> {
  label: string;
  get(f: T): number;
  show(v: number): string;
  /** Whether gateway/nginx means something for this figure. */
  ratio: boolean;
}

const STREAM_ROWS: Row<StreamFigures>[] = [
  { label: "TTFT p50 ms, burst", get: (f) => f.ttftP50Ms, show: ms, ratio: true },
  { label: "TTFT p99 ms, burst", get: (f) => f.ttftP99Ms, show: ms, ratio: true },
  { label: "TTFT p50 ms, arriving", get: (f) => f.arrivalTtftP50Ms, show: ms, ratio: true },
  { label: "TTFT p99 ms, arriving", get: (f) => f.arrivalTtftP99Ms, show: ms, ratio: true },
  { label: "gap p99 ms", get: (f) => f.gapP99Ms, show: ms, ratio: true },
  { label: "gap max ms", get: (f) => f.gapMaxMs, show: ms, ratio: true },
  { label: "gaps ≥ 100 ms", get: (f) => f.stalls, show: (v) => num(v), ratio: false },
  { label: "connect p99 ms", get: (f) => f.connectP99Ms, show: ms, ratio: false },
  { label: "proxy CPU µs/event", get: (f) => f.proxyCpuUs, show: (v) => num(v, 1), ratio: true },
];

function peersOf(r: GatewayBenchResult): PeerName[] {
  return PEERS.filter((p) => r.streams.some((s) => s.peers[p]) || r.wholeFigures[p]);
}

function streamTable(r: GatewayBenchResult, peers: PeerName[], withRatio: boolean): string {
  const label = (p: PeerName) =>
    p === "nginx" && r.nginx ? r.nginx.split(",")[0] : p === "relay" ? "bare relay" : p;
  const head = ["N", "figure", ...peers.map(label), ...(withRatio ? ["gateway/nginx"] : [])];
  const rows: string[][] = [];
  for (const { n, peers: figs } of r.streams) {
    STREAM_ROWS.forEach((row, i) => {
      const v = (p: PeerName) => medianOf(figs[p], row.get);
      rows.push([
        i === 0 ? String(n) : "",
        row.label,
        ...peers.map((p) => row.show(v(p))),
        ...(withRatio ? [row.ratio ? times(ratio(v("gateway"), v("nginx"))) : ""] : []),
      ]);
    });
    const total = (p: PeerName, get: (f: StreamFigures) => number) =>
      (figs[p] ?? []).reduce((a, f) => a + get(f), 0);
    rows.push([
      "",
      `completed / failed (${r.rounds} rounds)`,
      ...peers.map((p) =>
        figs[p]
          ? `${total(p, (f) => f.completed)} / ${total(p, (f) => f.streams - f.completed)}`
          : "–"
      ),
      ...(withRatio ? [""] : []),
    ]);
  }
  return markdownTable(head, rows);
}

function rssTable(r: GatewayBenchResult): string | null {
  const last = r.streams.at(-1);
  const proxies = (["relay", "gateway", "nginx"] as const).filter((p) => last?.peers[p]);
  if (!last || !proxies.length) return null;
  const rows: [string, (f: StreamFigures) => number][] = [
    ["before", (f) => f.rssMiB.before],
    [`peak, ${last.n} streams open`, (f) => f.rssMiB.peak],
    [`${r.settleS} s after they end`, (f) => f.rssMiB.after],
  ];
  return markdownTable(
    [`proxy RSS MiB, N = ${last.n}`, ...proxies],
    rows.map(([label, get]) => [label, ...proxies.map((p) => num(medianOf(last.peers[p], get)))]),
  );
}

function wholeTable(r: GatewayBenchResult, peers: PeerName[], withRatio: boolean): string | null {
  if (!r.whole) return null;
  const c = r.whole.clients;
  const rows: Row<WholeFigures>[] = [
    { label: "1 client, p50 ms", get: (f) => f.one.p50Ms, show: (v) => num(v, 3), ratio: true },
    { label: `${c} clients, req/s`, get: (f) => f.many.rps, show: (v) => num(v), ratio: true },
    {
      label: `${c} clients, proxy CPU µs/req`,
      get: (f) => f.cpuUs,
      show: (v) => num(v),
      ratio: true,
    },
  ];
  return markdownTable(
    [`whole answers (${r.whole.loadGenerator})`, ...peers, ...(withRatio ? ["gateway/nginx"] : [])],
    rows.map((row) => {
      const v = (p: PeerName) => medianOf(r.wholeFigures[p], row.get);
      return [
        row.label,
        ...peers.map((p) => row.show(v(p))),
        ...(withRatio ? [times(ratio(v("gateway"), v("nginx")))] : []),
      ];
    }),
  );
}

export function renderReport(r: GatewayBenchResult): string {
  const peers = peersOf(r);
  const withRatio = peers.includes("gateway") && peers.includes("nginx");
  const lines = [
    `bench gateway: \`${r.command}\` (${(r.wallS / 60).toFixed(1)} min)`,
    `backend: ${r.backend}`,
    `client: ${r.client}`,
    `nginx: ${r.nginx ?? `not measured: ${r.nginxMissing ?? "unknown reason"}`}`,
    `${r.rounds} interleaved rounds; medians across rounds, except completed / failed (sums)`,
    "",
    streamTable(r, peers, withRatio),
  ];
  const rss = rssTable(r);
  if (rss) lines.push("", rss);
  const whole = wholeTable(r, peers, withRatio);
  if (whole) lines.push("", whole);
  if (r.notes.length) lines.push("", "notes:", ...r.notes.map((n) => `- ${n}`));
  return lines.join("\n");
}
