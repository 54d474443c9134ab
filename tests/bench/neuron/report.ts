/**
 * The neuron bench's figures. Requests run in pairs (the same request to each peer, back
 * to back, alternating which goes first), so each comparison is made under the same
 * momentary machine load: overheads are medians of per-pair differences.
 */

import { fmt, median, percentile } from "../gateway/stats.ts";
import { type RequestFigures, streamRate } from "./workload.ts";

/** One request sent to both peers. */
export interface Pair {
  http: RequestFigures;
  engine: RequestFigures;
}

/** Everything measured, by kind of request. */
export interface Pairs {
  /** One-token requests, each prompt new to the slot (prefills the user's message). */
  fresh: Pair[];
  /** One-token requests repeating the previous prompt (the slot's cache holds it). */
  repeated: Pair[];
  /** Long requests: the streamed decode rate. */
  gen: Pair[];
}

export interface KindSummary {
  /** p50 of each peer's own samples. */
  http: number;
  engine: number;
  /** Median of per-pair differences (ms) or ratios (rates). */
  paired: number;
}

export interface Target {
  name: string;
  value: number;
  unit: "ms" | "×";
  limit: number;
  kind: "max" | "min";
}

export interface NeuronBenchResult {
  setup: { model: string; context: number; threads: number; maxTokens: number };
  rounds: number;
  counts: { fresh: number; repeated: number; gen: number };
  tokensPerS: KindSummary;
  ttftFresh: KindSummary;
  ttftRepeated: KindSummary;
  targets: Target[];
  notes: string[];
}

export function ttftSummary(pairs: Pair[]): KindSummary {
  return {
    http: percentile(pairs.map((p) => p.http.ttftMs), 50),
    engine: percentile(pairs.map((p) => p.engine.ttftMs), 50),
    paired: median(pairs.map((p) => p.http.ttftMs - p.engine.ttftMs)),
  };
}

export function rateSummary(pairs: Pair[]): KindSummary {
  return {
    http: median(pairs.map((p) => streamRate(p.http))),
    engine: median(pairs.map((p) => streamRate(p.engine))),
    paired: median(pairs.map((p) => streamRate(p.http) / streamRate(p.engine))),
  };
}

export function verdict(t: Target): "PASS" | "FAIL" | "n/a" {
  if (!Number.isFinite(t.value)) return "n/a";
  return (t.kind === "max" ? t.value < t.limit : t.value >= t.limit) ? "PASS" : "FAIL";
}

/** Summaries and the targets: streamed rate ≥ 0.95 of in-process, TTFT p50 overhead < 2 ms. */
export function summarize(
  pairs: Pairs,
  base: Pick<NeuronBenchResult, "setup" | "rounds" | "notes">,
): NeuronBenchResult {
  const tokensPerS = rateSummary(pairs.gen);
  const ttftFresh = ttftSummary(pairs.fresh);
  const ttftRepeated = ttftSummary(pairs.repeated);
  return {
    ...base,
    counts: { fresh: pairs.fresh.length, repeated: pairs.repeated.length, gen: pairs.gen.length },
    tokensPerS,
    ttftFresh,
    ttftRepeated,
    targets: [
      {
        name: "streamed tokens/s, HTTP / in-process (median of pairs)",
        value: tokensPerS.paired,
        unit: "×",
        limit: 0.95,
        kind: "min",
      },
      {
        name: "TTFT overhead at p50, HTTP − in-process (median of pairs, repeated prompt)",
        value: ttftRepeated.paired,
        unit: "ms",
        limit: 2,
        kind: "max",
      },
    ],
  };
}

export function renderReport(r: NeuronBenchResult): string {
  const rows: [string, KindSummary, number, string][] = [
    ["streamed tokens/s (p50)", r.tokensPerS, 1, fmt(r.tokensPerS.paired, 3) + "×"],
    ["TTFT ms, new prompt (p50)", r.ttftFresh, 3, `${fmt(r.ttftFresh.paired, 3)} ms`],
    ["TTFT ms, repeated prompt (p50)", r.ttftRepeated, 3, `${fmt(r.ttftRepeated.paired, 3)} ms`],
  ];
  const head = ["", "http", "in-process", "paired http vs in-process"];
  const cells = rows.map((
    [label, s, d, paired],
  ) => [label, fmt(s.http, d), fmt(s.engine, d), paired]);
  const widths = head.map((_, c) => Math.max(...[head, ...cells].map((row) => row[c].length)));
  const line = (row: string[]) =>
    row.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join("  ");
  const c = r.counts;
  const out = [
    `bench neuron: ${r.setup.model}, context ${r.setup.context}, ${r.setup.threads} thread(s), ` +
    `one slot, greedy, end-of-generation banned`,
    `${r.rounds} rounds; request pairs (same request to each peer, back to back): ` +
    `${c.fresh} new-prompt and ${c.repeated} repeated-prompt one-token requests, ` +
    `${c.gen} × ${r.setup.maxTokens}-token streams`,
    "",
    line(head),
    ...cells.map(line),
    "",
    "targets:",
    ...r.targets.map((t) => {
      const v = t.unit === "ms" ? `${fmt(t.value, 3)} ms` : `${fmt(t.value, 3)}×`;
      const lim = t.unit === "ms" ? `< ${t.limit} ms` : `≥ ${t.limit}×`;
      return `  ${verdict(t).padEnd(4)}  ${t.name}: ${v} (target ${lim})`;
    }),
  ];
  if (r.notes.length) out.push("", "notes:", ...r.notes.map((n) => `  ${n}`));
  return out.join("\n");
}
