/**
 * Two servers answering the same streamed chat bursts: 1 and 4 requests at once, each a fresh
 * prompt (its first words differ, so no slot's cache holds it) generating max_tokens with
 * end-of-generation banned. Figures per burst follow llama-batched-bench's definitions:
 *
 *   prompt tok/s = Σ prompt tokens / the latest first token (T_PP)
 *   generation tok/s = Σ (completion − 1) / (the latest finish − T_PP)
 *
 * and TTFT is the median first-token time of the burst's requests. Rounds interleave the
 * servers (who goes first alternates); each figure is the median over rounds, each ratio the
 * median of per-round ratios, so both sides of a ratio ran under the same momentary load.
 */

import { median } from "../gateway/stats.ts";
import type { RequestFigures, RequestSpec } from "./workload.ts";

export interface ServingPeer {
  readonly name: string;
  run(spec: RequestSpec): Promise<RequestFigures>;
}

export interface BurstStats {
  promptTokS: number;
  ttftMs: number;
  genTokS: number;
  promptTokens: number;
  completionTokens: number;
}

export function burstStats(figs: RequestFigures[]): BurstStats {
  const tPp = Math.max(...figs.map((f) => f.ttftMs));
  const tEnd = Math.max(...figs.map((f) => f.endMs));
  const prompt = figs.reduce((a, f) => a + f.promptTokens, 0);
  const decoded = figs.reduce((a, f) => a + Math.max(0, f.completionTokens - 1), 0);
  return {
    promptTokS: prompt / (tPp / 1000),
    ttftMs: median(figs.map((f) => f.ttftMs)),
    genTokS: tEnd > tPp ? decoded / ((tEnd - tPp) / 1000) : NaN,
    promptTokens: prompt,
    completionTokens: figs.reduce((a, f) => a + f.completionTokens, 0),
  };
}

/**
 * About `tokens` tokens of the bench fixture's vocabulary (3.9 tokens a word), starting with
 * words of their own so no cache holds any of it.
 */
export function servingPrompt(tokens: number, salt: string): string {
  const words = Math.max(1, Math.round(tokens / 3.9));
  return [`${salt}:`, ...Array.from({ length: words - 1 }, (_, i) => `w${i % 97}`)].join(" ");
}

/** One burst: `specs` sent at once to one peer. */
export async function burst(peer: ServingPeer, specs: RequestSpec[]): Promise<BurstStats> {
  return burstStats(await Promise.all(specs.map((s) => peer.run(s))));
}

/** Per round, per concurrency, each peer's burst. */
export type RoundBursts = Map<number, [BurstStats, BurstStats]>;

/** Medians over rounds for one concurrency: each peer's figures and the paired ratios. */
export interface ServingRow {
  concurrency: number;
  ours: BurstStats;
  theirs: BurstStats;
  /** ours / theirs for rates; theirs / ours for TTFT (so above 1 means ours is better). */
  ratio: { promptTokS: number; ttftMs: number; genTokS: number };
}

export function summarizeServing(rounds: RoundBursts[], concurrency: number[]): ServingRow[] {
  return concurrency.map((c) => {
    const pairs = rounds.map((r) => r.get(c)!).filter(Boolean);
    const med = (i: 0 | 1, k: keyof BurstStats) => median(pairs.map((p) => p[i][k]));
    const side = (i: 0 | 1): BurstStats => ({
      promptTokS: med(i, "promptTokS"),
      ttftMs: med(i, "ttftMs"),
      genTokS: med(i, "genTokS"),
      promptTokens: med(i, "promptTokens"),
      completionTokens: med(i, "completionTokens"),
    });
    return {
      concurrency: c,
      ours: side(0),
      theirs: side(1),
      ratio: {
        promptTokS: median(pairs.map(([o, t]) => o.promptTokS / t.promptTokS)),
        ttftMs: median(pairs.map(([o, t]) => t.ttftMs / o.ttftMs)),
        genTokS: median(pairs.map(([o, t]) => o.genTokS / t.genTokS)),
      },
    };
  });
}

export interface ServingTarget {
  name: string;
  value: number;
  limit: number;
}

export interface ServingReport {
  title: string;
  lines: string[];
  labels: [string, string];
  rows: ServingRow[];
  targets: ServingTarget[];
  notes: string[];
}

const f = (v: number, d: number) => (Number.isFinite(v) ? v.toFixed(d) : "n/a");

export function renderServing(r: ServingReport): string {
  const head = ["figure", "streams", r.labels[0], r.labels[1], `${r.labels[0]}/${r.labels[1]}`];
  const cells: string[][] = [];
  for (const row of r.rows) {
    const c = String(row.concurrency);
    cells.push(
      [
        "prompt tok/s",
        c,
        f(row.ours.promptTokS, 0),
        f(row.theirs.promptTokS, 0),
        `${f(row.ratio.promptTokS, 2)}×`,
      ],
      [
        "TTFT p50 ms",
        c,
        f(row.ours.ttftMs, 1),
        f(row.theirs.ttftMs, 1),
        `${f(row.ratio.ttftMs, 2)}× (inverse)`,
      ],
      [
        "generation tok/s",
        c,
        f(row.ours.genTokS, 1),
        f(row.theirs.genTokS, 1),
        `${f(row.ratio.genTokS, 2)}×`,
      ],
    );
  }
  const widths = head.map((_, i) => Math.max(...[head, ...cells].map((x) => x[i].length)));
  const line = (x: string[]) => `| ${x.map((v, i) => v.padEnd(widths[i])).join(" | ")} |`;
  const out = [
    r.title,
    ...r.lines,
    "",
    line(head),
    `|${widths.map((w) => "-".repeat(w + 2)).join("|")}|`,
    ...cells.map(line),
    "",
    "targets:",
    ...r.targets.map((t) =>
      `  ${Number.isFinite(t.value) && t.value >= t.limit ? "PASS" : "FAIL"}  ${t.name}: ${
        f(t.value, 2)
      }× (target ≥ ${t.limit}×)`
    ),
  ];
  if (r.notes.length) out.push("", "notes:", ...r.notes.map((n) => `  ${n}`));
  return out.join("\n");
}
