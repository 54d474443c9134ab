/** The gateway bench's figures, their medians across rounds, the targets and the table. */

import type { LoadResult } from "./load.ts";
import { fmt, median, ratio } from "./stats.ts";
import type { StreamResult } from "./stream_client.ts";

export const PEERS = ["direct", "gateway", "nginx"] as const;
export type PeerName = typeof PEERS[number];

/** What one peer measured in one round. */
export interface RoundFigures {
  /** Whole (non-streamed) answers, 1 client and N clients, by the load generator. */
  whole1: LoadResult;
  wholeN: LoadResult;
  /** Streams read to the end by the load generator, N clients. */
  streamN: LoadResult;
  /** Streams timed per event by the Deno client, 1 and N clients. */
  stream1: StreamResult;
  streamLatN: StreamResult;
  /** CPU the proxy process spent per answer or stream (NaN: no proxy process, direct). */
  cpuUs: { whole1: number; wholeN: number; streamN: number };
}

interface Metric {
  group: string;
  label: string;
  get(f: RoundFigures): number;
  digits: number;
}

function metrics(clients: number): Metric[] {
  const c = (n: number) => `${n} client${n === 1 ? "" : "s"}`;
  return [
    { group: `whole, ${c(1)}`, label: "req/s", get: (f) => f.whole1.rps, digits: 0 },
    { group: "", label: "p50 ms", get: (f) => f.whole1.p50Ms, digits: 3 },
    { group: "", label: "p99 ms", get: (f) => f.whole1.p99Ms, digits: 3 },
    { group: "", label: "proxy CPU µs/req", get: (f) => f.cpuUs.whole1, digits: 0 },
    { group: `whole, ${c(clients)}`, label: "req/s", get: (f) => f.wholeN.rps, digits: 0 },
    { group: "", label: "p50 ms", get: (f) => f.wholeN.p50Ms, digits: 2 },
    { group: "", label: "p99 ms", get: (f) => f.wholeN.p99Ms, digits: 2 },
    { group: "", label: "proxy CPU µs/req", get: (f) => f.cpuUs.wholeN, digits: 0 },
    { group: `stream, ${c(clients)}`, label: "streams/s", get: (f) => f.streamN.rps, digits: 0 },
    { group: "", label: "stream p50 ms", get: (f) => f.streamN.p50Ms, digits: 2 },
    { group: "", label: "stream p99 ms", get: (f) => f.streamN.p99Ms, digits: 2 },
    { group: "", label: "proxy CPU µs/stream", get: (f) => f.cpuUs.streamN, digits: 0 },
    { group: `stream, ${c(1)}`, label: "TTFT p50 ms", get: (f) => f.stream1.ttftP50Ms, digits: 3 },
    { group: "", label: "TTFT p99 ms", get: (f) => f.stream1.ttftP99Ms, digits: 3 },
    { group: "", label: "gap p50 ms", get: (f) => f.stream1.gapP50Ms, digits: 3 },
    { group: "", label: "gap p99 ms", get: (f) => f.stream1.gapP99Ms, digits: 3 },
    {
      group: `stream, ${c(clients)}`,
      label: "TTFT p50 ms",
      get: (f) => f.streamLatN.ttftP50Ms,
      digits: 2,
    },
    { group: "", label: "TTFT p99 ms", get: (f) => f.streamLatN.ttftP99Ms, digits: 2 },
    { group: "", label: "gap p50 ms", get: (f) => f.streamLatN.gapP50Ms, digits: 3 },
    { group: "", label: "gap p99 ms", get: (f) => f.streamLatN.gapP99Ms, digits: 2 },
    {
      group: "",
      label: "streams/s (deno client)",
      get: (f) => f.streamLatN.streamsPerS,
      digits: 0,
    },
  ];
}

export interface Target {
  name: string;
  value: number;
  unit: "ms" | "×";
  limit: number;
  /** "max": the value must stay under the limit; "min": reach it. */
  kind: "max" | "min";
  /** Why there is no value (a peer is missing). */
  missing?: string;
}

export function verdict(t: Target): "PASS" | "FAIL" | "n/a" {
  if (!Number.isFinite(t.value)) return "n/a";
  return (t.kind === "max" ? t.value < t.limit : t.value >= t.limit) ? "PASS" : "FAIL";
}

export interface GatewayBenchResult {
  backend: string;
  loadGenerator: string;
  /** nginx as measured, or null with the reason in `nginxMissing`. */
  nginx: string | null;
  nginxMissing: string | null;
  rounds: number;
  seconds: number;
  clients: number;
  /** Per peer, per round. */
  figures: Partial<Record<PeerName, RoundFigures[]>>;
  /** Per peer, per metric label (group + label): the median across rounds. */
  medians: Partial<Record<PeerName, Record<string, number>>>;
  targets: Target[];
  notes: string[];
}

/** Per-round differences `a - b` of a figure, then their median (noise hits both alike). */
function medianDelta(a: RoundFigures[], b: RoundFigures[], get: (f: RoundFigures) => number) {
  return median(a.map((f, i) => (b[i] ? get(f) - get(b[i]) : NaN)));
}

export function summarize(
  base: Omit<GatewayBenchResult, "medians" | "targets">,
): GatewayBenchResult {
  const ms = metrics(base.clients);
  const medians: GatewayBenchResult["medians"] = {};
  for (const p of PEERS) {
    const rounds = base.figures[p];
    if (!rounds) continue;
    medians[p] = Object.fromEntries(ms.map((m, i) => [key(ms, i), median(rounds.map(m.get))]));
  }
  const gw = base.figures.gateway ?? [];
  const direct = base.figures.direct ?? [];
  const nginx = base.figures.nginx;
  const noNginx = base.nginx === null ? `nginx ${base.nginxMissing ?? "not measured"}` : undefined;
  const targets: Target[] = [
    {
      name: "added p50 latency, whole answer, 1 client",
      value: medianDelta(gw, direct, (f) => f.whole1.p50Ms),
      unit: "ms",
      limit: 1,
      kind: "max",
    },
    {
      name: "added TTFT p50, stream, 1 client",
      value: medianDelta(gw, direct, (f) => f.stream1.ttftP50Ms),
      unit: "ms",
      limit: 1,
      kind: "max",
    },
    {
      name: `throughput vs nginx, whole answers, ${base.clients} clients`,
      value: nginx
        ? ratio(median(gw.map((f) => f.wholeN.rps)), median(nginx.map((f) => f.wholeN.rps)))
        : NaN,
      unit: "×",
      limit: 0.5,
      kind: "min",
      missing: noNginx,
    },
    {
      name: `throughput vs nginx, streams, ${base.clients} clients`,
      value: nginx
        ? ratio(median(gw.map((f) => f.streamN.rps)), median(nginx.map((f) => f.streamN.rps)))
        : NaN,
      unit: "×",
      limit: 0.5,
      kind: "min",
      missing: noNginx,
    },
  ];
  return { ...base, medians, targets };
}

function key(ms: Metric[], i: number): string {
  let g = "";
  for (let j = i; j >= 0 && !g; j--) g = ms[j].group;
  return `${g}: ${ms[i].label}`;
}

function pad(cells: string[], widths: number[]): string {
  return cells.map((c, i) => (i < 2 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join("  ");
}

export function renderReport(r: GatewayBenchResult): string {
  const ms = metrics(r.clients);
  const peers = PEERS.filter((p) => r.medians[p]);
  const head = ["", "", ...peers, "gw/direct", ...(r.medians.nginx ? ["gw/nginx"] : [])];
  const rows = ms.map((m, i) => {
    const k = key(ms, i);
    const v = (p: PeerName) => r.medians[p]?.[k] ?? NaN;
    return [
      m.group,
      m.label,
      ...peers.map((p) => fmt(v(p), m.digits)),
      fmt(ratio(v("gateway"), v("direct")), 2),
      ...(r.medians.nginx ? [fmt(ratio(v("gateway"), v("nginx")), 2)] : []),
    ];
  });
  const widths = head.map((_, c) => Math.max(...[head, ...rows].map((row) => row[c].length)));
  const lines = [
    `bench gateway: ${r.backend}`,
    `load: ${r.loadGenerator}; streams timed per event by a Deno client; ` +
    `${r.rounds} interleaved rounds × ${r.seconds} s per measurement, medians shown`,
    `nginx: ${r.nginx ?? `not measured: ${r.nginxMissing ?? "unknown reason"}`}`,
    "",
    pad(head, widths),
    ...rows.map((row) => pad(row, widths)),
    "",
    "targets:",
  ];
  for (const t of r.targets) {
    const v = Number.isFinite(t.value)
      ? t.unit === "ms" ? `${fmt(t.value, 3)} ms` : `${fmt(t.value, 2)}×`
      : (t.missing ?? "no figure");
    const lim = t.unit === "ms" ? `< ${t.limit} ms` : `≥ ${t.limit}×`;
    lines.push(`  ${verdict(t).padEnd(4)}  ${t.name}: ${v} (target ${lim})`);
  }
  if (r.notes.length) lines.push("", "notes:", ...r.notes.map((n) => `  ${n}`));
  return lines.join("\n");
}
