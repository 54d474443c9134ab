import { assert, assertEquals, assertMatch } from "../../assert.ts";
import {
  type BenchResult,
  compare,
  median,
  peerResult,
  renderReport,
  shortfalls,
  TARGETS,
} from "./report.ts";
import { DEFAULT_SHAPE, type RoundFigures } from "./workload.ts";

/** A round where each figure runs at `rate` tok/s (and twice that per CPU-second). */
function round(rate: number, generated = 128): RoundFigures {
  const m = (tokens: number) => ({
    tokens,
    ms: (tokens / rate) * 1000,
    cpuMs: (tokens / rate) * 500,
  });
  return { prompt: m(512), single: m(generated), concurrent: m(4 * generated) };
}

Deno.test("median of odd and even counts", () => {
  assertEquals(median([3, 1, 2]), 2);
  assertEquals(median([4, 1, 3, 2]), 2.5);
});

Deno.test("peer figures are medians of per-round tok/s, wall and CPU", () => {
  const r = peerResult("x", [round(100), round(300), round(200)]);
  assertEquals(Math.round(r.figures.single.median), 200);
  assertEquals(Math.round(r.figures.single.min), 100);
  assertEquals(Math.round(r.figures.single.max), 300);
  assertEquals(Math.round(r.cpuFigures.prompt.median), 400);
});

Deno.test("comparisons pass above the target and fail below it", () => {
  const engine = peerResult("engine", [round(96)]);
  const plain = peerResult("plain loop", [round(100)]);
  const above = compare(engine, plain, TARGETS.plain);
  assert(above.every((c) => c.pass === true), JSON.stringify(above));
  const below = compare(peerResult("engine", [round(94)]), plain, TARGETS.plain);
  assert(below.every((c) => c.pass === false));
  assertEquals(compare(engine, undefined, TARGETS.node)[0], {
    figure: "prompt",
    ratio: null,
    target: TARGETS.node,
    pass: null,
  });
});

Deno.test("short generations are reported per round", () => {
  const notes = shortfalls(peerResult("engine", [round(100), round(100, 100)]), DEFAULT_SHAPE);
  assertEquals(notes.length, 2);
  assertMatch(notes[0], /round 2: 1 stream generated 100\/128/);
  assertMatch(notes[1], /round 2: 4 streams generated 400\/512/);
});

Deno.test("the report shows every peer, ratios with verdicts, and the memory figure", () => {
  const peers = [
    peerResult("engine", [round(110)]),
    peerResult("plain loop", [round(100)]),
    peerResult("node-llama-cpp", [round(120)]),
  ];
  const resident = { rss: 200e6, anon: 90e6, file: 110e6, peak: 201e6 };
  const result: BenchResult = {
    setup: { modelPath: "/m/bench.gguf", context: 1024, slots: 4, nBatch: 512, threads: 1 },
    shape: DEFAULT_SHAPE,
    rounds: 1,
    peers,
    comparisons: {
      plain: compare(peers[0], peers[1], TARGETS.plain),
      node: compare(peers[0], peers[2], TARGETS.node),
    },
    memory: {
      modelFileBytes: 50e6,
      buffers: { kv: 30e6, compute: 17e6, output: 0 },
      probe: { baseline: resident, loaded: resident, afterWork: resident },
      beyondBytes: 120e6,
      beyondAfterLoadBytes: 120e6,
      anonBeyondBytes: 60e6,
      targetBytes: 80e6,
      pass: false,
    },
    nodeResident: resident,
    notes: ["a note"],
  };
  const text = renderReport(result);
  assertMatch(text, /bench\.gguf, 1 thread/);
  assertMatch(text, /1\.10× PASS \(≥ 0\.95\)/);
  assertMatch(text, /0\.92× FAIL \(≥ 1\.1\)/);
  assertMatch(text, /beyond weights and KV: 120\.0 MB FAIL \(< 80\.0 MB\)/);
  assertMatch(text, /note: a note/);
});
