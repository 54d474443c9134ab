/**
 * The speculative bench's figures: per mode and workload, generation tok/s over rounds
 * (median), acceptance, and the ratio to plain decoding measured in the same rounds.
 */

import { median } from "../engine/report.ts";

export const MODES = ["plain", "draft", "unrelated", "ngram"] as const;
export type Mode = typeof MODES[number];
export const WORKLOADS = ["1 stream", "4 streams"] as const;
export type Workload = typeof WORKLOADS[number];

/** One mode's run of one workload in one round. */
export interface Sample {
  /** Generated tokens after each stream's first, over the time after the first token. */
  tokens: number;
  seconds: number;
  /**
   * CPU seconds the process spent over the whole run (all threads; with one llama.cpp
   * thread, the work itself): on a shared machine the steadier measure of cost.
   */
  cpuSeconds: number;
  /** Tokens generated over the whole run (the CPU figure's numerator). */
  allTokens: number;
  drafted: number;
  accepted: number;
}

export interface Row {
  mode: Mode;
  workload: Workload;
  tokPerS: number;
  /** Median over rounds of this mode's tok/s ÷ plain's in the same round. */
  ratio: number;
  /** Generated tokens per CPU second, median over rounds. */
  tokPerCpuS: number;
  /** The same ratio by CPU time. */
  cpuRatio: number;
  /** Accepted ÷ drafted over all rounds (null when nothing was drafted). */
  acceptance: number | null;
  drafted: number;
}

/** Targets from issue 21, checked against the rows. */
export const TARGETS = {
  perfectDraftSingle: 1.8,
  rejectedCost: 0.95,
  fourStreamsFloor: 1.0,
} as const;

export function summarize(
  samples: Map<Mode, Map<Workload, Sample[]>>,
): Row[] {
  const rows: Row[] = [];
  const plain = samples.get("plain")!;
  for (const workload of WORKLOADS) {
    const base = plain.get(workload)!.map((s) => s.tokens / s.seconds);
    const cpuBase = plain.get(workload)!.map((s) => s.allTokens / s.cpuSeconds);
    for (const mode of MODES) {
      const runs = samples.get(mode)!.get(workload)!;
      const speeds = runs.map((s) => s.tokens / s.seconds);
      const cpu = runs.map((s) => s.allTokens / s.cpuSeconds);
      const drafted = runs.reduce((a, s) => a + s.drafted, 0);
      const accepted = runs.reduce((a, s) => a + s.accepted, 0);
      rows.push({
        mode,
        workload,
        tokPerS: median(speeds),
        ratio: median(speeds.map((v, i) => v / base[i])),
        tokPerCpuS: median(cpu),
        cpuRatio: median(cpu.map((v, i) => v / cpuBase[i])),
        acceptance: drafted ? accepted / drafted : null,
        drafted,
      });
    }
  }
  return rows;
}

/** Targets the rows miss by wall time or CPU time, in words (empty when all are met). */
export function shortfalls(rows: Row[], by: "wall" | "cpu" = "wall"): string[] {
  const get = (mode: Mode, workload: Workload) => {
    const r = rows.find((r) => r.mode === mode && r.workload === workload)!;
    return { ratio: by === "wall" ? r.ratio : r.cpuRatio };
  };
  const out: string[] = [];
  const perfect = get("draft", "1 stream").ratio;
  if (perfect < TARGETS.perfectDraftSingle) {
    out.push(`perfect draft, 1 stream: ${perfect.toFixed(2)}× < ${TARGETS.perfectDraftSingle}×`);
  }
  const rejected = get("unrelated", "1 stream").ratio;
  if (rejected < TARGETS.rejectedCost) {
    out.push(`unrelated draft, 1 stream: ${rejected.toFixed(2)}× < ${TARGETS.rejectedCost}×`);
  }
  for (const mode of ["draft", "ngram"] as const) {
    const four = get(mode, "4 streams").ratio;
    if (four < TARGETS.fourStreamsFloor) {
      out.push(`${mode}, 4 streams: ${four.toFixed(2)}× < ${TARGETS.fourStreamsFloor}×`);
    }
  }
  return out;
}

/** The README table: one row per workload and mode. */
export function renderTable(rows: Row[]): string {
  const lines = [
    "| workload  | mode            | tok/s  | vs plain | tok/CPU-s | vs plain (CPU) | accepted / drafted |",
    "| --------- | --------------- | ------ | -------- | --------- | -------------- | ------------------ |",
  ];
  const label: Record<Mode, string> = {
    plain: "plain",
    draft: "perfect draft",
    unrelated: "unrelated draft",
    ngram: "prompt lookup",
  };
  for (const r of rows) {
    const acc = r.acceptance === null ? "–" : `${(r.acceptance * 100).toFixed(0)}% of ${r.drafted}`;
    lines.push(
      `| ${r.workload.padEnd(9)} | ${label[r.mode].padEnd(15)} | ${
        r.tokPerS.toFixed(1).padStart(6)
      } | ${(r.ratio.toFixed(2) + "×").padStart(8)} | ${r.tokPerCpuS.toFixed(1).padStart(9)} | ${
        (r.cpuRatio.toFixed(2) + "×").padStart(14)
      } | ${acc.padEnd(18)} |`,
    );
  }
  return lines.join("\n");
}
