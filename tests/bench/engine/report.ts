/** Medians, ratios against the targets, and the printed table of the engine benchmark. */

import Table from "cli-table3";
import type { MemoryReport } from "./memory.ts";
import type { Resident } from "./resident.ts";
import {
  type Figure,
  FIGURES,
  type Measure,
  type RoundFigures,
  type Setup,
  type Shape,
  tokensPerCpuSecond,
  tokensPerSecond,
} from "./workload.ts";

/** The engine must reach these fractions of each peer's figure. */
export const TARGETS = { plain: 0.95, node: 1.1 } as const;

export const FIGURE_LABELS: Record<Figure, string> = {
  prompt: "prompt tok/s",
  single: "generation tok/s (1 stream)",
  concurrent: "aggregate tok/s (4 streams)",
};

export interface Spread {
  median: number;
  min: number;
  max: number;
}

export interface PeerResult {
  name: string;
  rounds: RoundFigures[];
  /** Tokens per wall-clock second per figure, over the rounds. */
  figures: Record<Figure, Spread>;
  /** Tokens per CPU-second of the peer's process per figure, over the rounds. */
  cpuFigures: Record<Figure, Spread>;
}

export interface Comparison {
  figure: Figure;
  /** engine ÷ peer, null when the peer did not run. */
  ratio: number | null;
  target: number;
  pass: boolean | null;
}

export interface BenchResult {
  setup: Setup;
  shape: Shape;
  rounds: number;
  peers: PeerResult[];
  /** Per figure: engine vs the plain loop, engine vs node-llama-cpp. */
  comparisons: { plain: Comparison[]; node: Comparison[] };
  memory: MemoryReport | null;
  /** The node-llama-cpp process after its rounds (it holds nothing else), for reference. */
  nodeResident: Resident | null;
  notes: string[];
}

export function median(values: readonly number[]): number {
  if (!values.length) throw new RangeError("median of no values");
  const s = [...values].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

export function spread(values: readonly number[]): Spread {
  return { median: median(values), min: Math.min(...values), max: Math.max(...values) };
}

export function peerResult(name: string, rounds: RoundFigures[]): PeerResult {
  const per = (rate: (m: Measure) => number) =>
    Object.fromEntries(
      FIGURES.map((f) => [f, spread(rounds.map((r) => rate(r[f])))]),
    ) as Record<Figure, Spread>;
  return { name, rounds, figures: per(tokensPerSecond), cpuFigures: per(tokensPerCpuSecond) };
}

/** engine ÷ other per figure, judged against `target`. */
export function compare(
  engine: PeerResult,
  other: PeerResult | undefined,
  target: number,
): Comparison[] {
  return FIGURES.map((figure) => {
    if (!other) return { figure, ratio: null, target, pass: null };
    const ratio = engine.figures[figure].median / other.figures[figure].median;
    return { figure, ratio, target, pass: ratio >= target };
  });
}

/** Rounds in which a peer generated fewer tokens than asked (an early end-of-generation). */
export function shortfalls(peer: PeerResult, shape: Shape): string[] {
  const out: string[] = [];
  peer.rounds.forEach((r, i) => {
    if (r.single.tokens < shape.genTokens) {
      out.push(
        `${peer.name} round ${i + 1}: 1 stream generated ${r.single.tokens}/${shape.genTokens}`,
      );
    }
    const want = shape.concurrent * shape.concurrentTokens;
    if (r.concurrent.tokens < want) {
      out.push(
        `${peer.name} round ${
          i + 1
        }: ${shape.concurrent} streams generated ${r.concurrent.tokens}/${want}`,
      );
    }
  });
  return out;
}

const num = (v: number) => v >= 100 ? v.toFixed(0) : v.toFixed(1);
const mb = (bytes: number) => `${(bytes / 1e6).toFixed(1)} MB`;

function cell(s: Spread | undefined): string {
  return s ? `${num(s.median)} (${num(s.min)}–${num(s.max)})` : "—";
}

function verdict(c: Comparison): string {
  if (c.ratio === null) return "not run";
  return `${c.ratio.toFixed(2)}× ${c.pass ? "PASS" : "FAIL"} (≥ ${c.target})`;
}

/** The human-readable report: setup, the table, memory, notes. */
export function renderReport(r: BenchResult): string {
  const byName = (n: string) => r.peers.find((p) => p.name === n);
  const engine = byName("engine");
  const plain = byName("plain loop");
  const node = byName("node-llama-cpp");
  const lines: string[] = [];
  const s = r.setup;
  lines.push(
    `engine benchmark: ${s.modelPath.split("/").at(-1)}, ${s.threads} thread(s), ` +
      `context ${s.context}×${s.slots} slots, n_batch ${s.nBatch}, ${r.rounds} round(s), median (min–max)`,
  );
  lines.push(
    `workload: prompt ${r.shape.promptTokens} tok → 1; 1 stream ${r.shape.shortPromptTokens} → ` +
      `${r.shape.genTokens}; ${r.shape.concurrent} streams ${r.shape.shortPromptTokens} → ` +
      `${r.shape.concurrentTokens} each; greedy, no stop strings`,
  );
  const table = new Table({
    head: ["figure", "engine", "plain loop", "node-llama-cpp", "engine/plain", "engine/node"],
    style: { head: [], border: [] },
  });
  FIGURES.forEach((f, i) => {
    table.push([
      FIGURE_LABELS[f],
      cell(engine?.figures[f]),
      cell(plain?.figures[f]),
      cell(node?.figures[f]),
      verdict(r.comparisons.plain[i]),
      verdict(r.comparisons.node[i]),
    ]);
  });
  lines.push(table.toString());
  // The same per CPU-second of each peer's process: other load on the machine moves it far
  // less than wall time, so a gap here is the peer's own work, not noise.
  const cpu = new Table({
    head: [
      "per CPU-second",
      "engine",
      "plain loop",
      "node-llama-cpp",
      "engine/plain",
      "engine/node",
    ],
    style: { head: [], border: [] },
  });
  const ratio = (a?: Spread, b?: Spread) => a && b ? `${(a.median / b.median).toFixed(2)}×` : "—";
  for (const f of FIGURES) {
    const [e, p, n] = [engine, plain, node].map((x) => x?.cpuFigures[f]);
    cpu.push([
      FIGURE_LABELS[f].replace("tok/s", "tok/CPU-s"),
      cell(e),
      cell(p),
      cell(n),
      ratio(e, p),
      ratio(e, n),
    ]);
  }
  lines.push(cpu.toString());
  const m = r.memory;
  if (m) {
    const w = m.probe.afterWork;
    lines.push(
      `engine memory beyond weights and KV: ${mb(m.beyondBytes)} ` +
        `${m.pass ? "PASS" : "FAIL"} (< ${mb(m.targetBytes)}); right after load ` +
        `${mb(m.beyondAfterLoadBytes)}`,
    );
    lines.push(
      `  = RSS ${mb(w.rss)} after one round (anon ${mb(w.anon)}, file-backed ${mb(w.file)}, ` +
        `peak ${mb(w.peak)}) − model file ${mb(m.modelFileBytes)} − KV ${mb(m.buffers.kv)}`,
    );
    lines.push(
      `  includes llama.cpp's compute buffer ${mb(m.buffers.compute)} and Deno itself ` +
        `(${mb(m.probe.baseline.rss)} with the bench modules, before the engine starts); ` +
        `private memory beyond KV (anon − KV) ${mb(m.anonBeyondBytes)}`,
    );
    if (r.nodeResident) {
      const n = r.nodeResident;
      lines.push(
        `  for reference, node-llama-cpp's Node process: RSS ${mb(n.rss)} − model file − KV = ` +
          `${mb(n.rss - m.modelFileBytes - m.buffers.kv)}; anon − KV ${mb(n.anon - m.buffers.kv)}`,
      );
    }
  } else {
    lines.push("engine memory: not measured");
  }
  for (const n of r.notes) lines.push(`note: ${n}`);
  return lines.join("\n");
}
