/**
 * `deno task bench speculative`: generation speed with speculative decoding against plain
 * decoding of the same model, in the same rounds. The target is a fixture whose layers past
 * the first are exact identities (tests/fixtures: `identityFrom`), so a draft made of its
 * first layer predicts it perfectly: the best case, honestly measurable on CPU. An unrelated
 * draft (other weights) is the worst case, where drafting must back off; prompt lookup
 * drafts from n-grams of the prompt and output. One stream and four, interleaved rounds
 * with the modes' order rotated, medians and per-round ratios; greedy, so every mode must
 * produce the same text (checked).
 */

import process from "node:process";
import { Engine } from "../../neuron/engine/engine.ts";
import type { GenerateParams, SpeculativeMode } from "../../neuron/engine/types.ts";
import { ensureFixture, FIXTURES } from "../fixtures/mod.ts";
import { optionsOrExitCode } from "./common/options.ts";
import { parseOptions, type SpeculativeBenchOptions } from "./speculative/options.ts";
import {
  type Mode,
  MODES,
  renderTable,
  type Sample,
  shortfalls,
  summarize,
  TARGETS,
  type Workload,
  WORKLOADS,
} from "./speculative/report.ts";

const progress = (line: string) => console.error(`bench speculative: ${line}`);

const chat = (user: string) =>
  `<|im_start|>user\n${user}<|im_end|>\n<|im_start|>assistant\n<think>\n`;

const PROMPTS = [
  chat("Summarise the design of a continuous batching scheduler for an LLM server."),
  chat("Write a function that merges two sorted lists, then explain its complexity."),
  chat("What should an operator check first when a GPU host stops answering?"),
  chat("Describe the tides to a child, with one example from a harbour town."),
];

/** Which loaded model and request mode each bench mode uses. */
const RUN: Record<Mode, { key: string; speculative: SpeculativeMode }> = {
  plain: { key: "perfect", speculative: "off" },
  draft: { key: "perfect", speculative: "draft" },
  unrelated: { key: "unrelated", speculative: "draft" },
  ngram: { key: "perfect", speculative: "ngram" },
};

interface Outcome {
  text: string;
  generated: number;
  afterFirstMs: number;
  drafted: number;
  accepted: number;
}

async function generate(
  engine: Engine,
  mode: Mode,
  prompt: string,
  maxTokens: number,
): Promise<Outcome> {
  const params: GenerateParams = {
    prompt,
    maxTokens,
    sampling: { temperature: 0 },
    stop: [],
    speculative: RUN[mode].speculative,
  };
  let text = "";
  for await (const ev of engine.stream(RUN[mode].key, params)) {
    if (ev.type === "error") throw new Error(`${mode}: ${ev.code}: ${ev.message}`);
    if (ev.type === "delta") { for (const d of ev.deltas) text += d.text; }
    if (ev.type === "done") {
      const u = ev.usage;
      return {
        text,
        generated: u.completionTokens,
        afterFirstMs: ev.timings.totalMs - ev.timings.ttftMs,
        drafted: u.draftedTokens,
        accepted: u.acceptedTokens,
      };
    }
  }
  throw new Error(`${mode}: stream ended without done`);
}

async function measure(
  engine: Engine,
  mode: Mode,
  workload: Workload,
  tokens: number,
  texts: Map<string, string>,
): Promise<Sample> {
  const prompts = workload === "1 stream" ? PROMPTS.slice(0, 1) : PROMPTS;
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  const runs = await Promise.all(prompts.map((p) => generate(engine, mode, p, tokens)));
  const wallMs = performance.now() - t0;
  const c = process.cpuUsage(c0);
  const cpuSeconds = (c.user + c.system) / 1e6;
  const allTokens = runs.reduce((a, r) => a + r.generated, 0);
  runs.forEach((r, i) => {
    const want = texts.get(prompts[i]);
    if (want === undefined) texts.set(prompts[i], r.text);
    else if (want !== r.text) throw new Error(`${mode} ${workload}: output differs from plain`);
  });
  const drafted = runs.reduce((a, r) => a + r.drafted, 0);
  const accepted = runs.reduce((a, r) => a + r.accepted, 0);
  if (workload === "1 stream") {
    // Decode speed: tokens after the first over the time after it.
    return {
      tokens: runs[0].generated - 1,
      seconds: runs[0].afterFirstMs / 1000,
      cpuSeconds,
      allTokens,
      drafted,
      accepted,
    };
  }
  // Aggregate: every token over the wall time (prompts are cached after the warm-up).
  return { tokens: allTokens, seconds: wallMs / 1000, cpuSeconds, allTokens, drafted, accepted };
}

async function run(opts: SpeculativeBenchOptions): Promise<number> {
  const bench = opts.size === "bench";
  const target = await ensureFixture(bench ? FIXTURES.specBenchTarget : FIXTURES.specTarget);
  const perfect = await ensureFixture(bench ? FIXTURES.specBenchDraft : FIXTURES.specDraft);
  const unrelated = await ensureFixture(
    bench ? FIXTURES.specBenchUnrelated : FIXTURES.specUnrelated,
  );
  const engine = await Engine.start({ logLevel: "warn" });
  try {
    const load = {
      context: 2048,
      slots: 4,
      nBatch: 512,
      nThreads: opts.threads,
      maxQueue: 8,
      draftMax: opts.draftMax,
    };
    await engine.load("perfect", target, { ...load, draftPath: perfect });
    await engine.load("unrelated", target, { ...load, draftPath: unrelated });
    const samples = new Map<Mode, Map<Workload, Sample[]>>(
      MODES.map((m) => [m, new Map(WORKLOADS.map((w) => [w, []]))]),
    );
    const texts = new Map<string, string>();
    progress(`warm-up (prompts into their slots, plain output recorded)`);
    for (const w of WORKLOADS) {
      for (const m of MODES) await measure(engine, m, w, opts.tokens, texts);
    }
    for (let round = 0; round < opts.rounds; round++) {
      const order = MODES.map((_, i) => MODES[(i + round) % MODES.length]);
      const parts: string[] = [];
      for (const w of WORKLOADS) {
        for (const m of order) {
          const s = await measure(engine, m, w, opts.tokens, texts);
          samples.get(m)!.get(w)!.push(s);
          parts.push(`${m}/${w === "1 stream" ? 1 : 4} ${(s.tokens / s.seconds).toFixed(0)}`);
        }
      }
      progress(`round ${round + 1}/${opts.rounds}: ${parts.join(", ")}`);
    }
    const rows = summarize(samples);
    const missed = shortfalls(rows);
    const missedCpu = shortfalls(rows, "cpu");
    if (opts.json) {
      console.log(
        JSON.stringify({ options: opts, rows, targets: TARGETS, missed, missedCpu }, null, 2),
      );
    } else {
      console.log(
        `fixture ${opts.size}: ${
          bench ? "n_embd 512, 8 layers (7 identities)" : "n_embd 64, 4 layers (3 identities)"
        }; ` +
          `drafts of 1 layer; draft_max ${opts.draftMax}; ${opts.threads} thread(s); ` +
          `${opts.tokens} tokens per stream; median of ${opts.rounds} interleaved rounds`,
      );
      console.log(renderTable(rows));
      const say = (by: string, m: string[]) =>
        console.log(
          m.length ? `by ${by}: targets missed: ${m.join("; ")}` : `by ${by}: all targets met`,
        );
      say("wall time", missed);
      say("CPU time", missedCpu);
    }
    return 0;
  } finally {
    await engine.close();
  }
}

export async function main(args: string[]): Promise<number> {
  const opts = optionsOrExitCode(() => parseOptions(args));
  if (typeof opts === "number") return opts;
  return await run(opts);
}
