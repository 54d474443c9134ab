import { assertEquals } from "../../assert.ts";
import {
  type Mode,
  MODES,
  renderTable,
  type Sample,
  shortfalls,
  summarize,
  type Workload,
  WORKLOADS,
} from "./report.ts";

function samples(speed: Record<Mode, number[]>, accept: Partial<Record<Mode, [number, number]>>) {
  const out = new Map<Mode, Map<Workload, Sample[]>>();
  for (const mode of MODES) {
    const byWorkload = new Map<Workload, Sample[]>();
    for (const w of WORKLOADS) {
      const [accepted, drafted] = accept[mode] ?? [0, 0];
      byWorkload.set(
        w,
        speed[mode].map((v) => ({
          tokens: v,
          seconds: 1,
          allTokens: v,
          cpuSeconds: 2,
          drafted,
          accepted,
        })),
      );
    }
    out.set(mode, byWorkload);
  }
  return out;
}

Deno.test("ratios are per round against plain in the same round, then the median", () => {
  // Plain varies round to round; the draft is always exactly twice as fast as it.
  const rows = summarize(samples({
    plain: [100, 50, 80],
    draft: [200, 100, 160],
    unrelated: [99, 48, 79],
    ngram: [110, 55, 88],
  }, { draft: [90, 100], unrelated: [0, 10] }));
  const draft = rows.find((r) => r.mode === "draft" && r.workload === "1 stream")!;
  assertEquals(draft.ratio, 2);
  assertEquals(draft.cpuRatio, 2);
  assertEquals(draft.tokPerS, 160);
  assertEquals(draft.tokPerCpuS, 80);
  assertEquals(draft.acceptance, 0.9);
  assertEquals(rows.find((r) => r.mode === "plain")!.acceptance, null);
  assertEquals(shortfalls(rows), []);
  const table = renderTable(rows);
  assertEquals(table.split("\n").length, 2 + MODES.length * WORKLOADS.length);
});

Deno.test("shortfalls name each missed target", () => {
  const rows = summarize(samples({
    plain: [100],
    draft: [150],
    unrelated: [90],
    ngram: [99],
  }, {}));
  const missed = [
    "perfect draft, 1 stream: 1.50× < 1.8×",
    "unrelated draft, 1 stream: 0.90× < 0.95×",
    "ngram, 4 streams: 0.99× < 1×",
  ];
  assertEquals(shortfalls(rows), missed);
  assertEquals(shortfalls(rows, "cpu"), missed);
});
