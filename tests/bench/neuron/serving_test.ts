import { assertEquals, assertMatch } from "../../assert.ts";
import {
  burstStats,
  renderServing,
  type RoundBursts,
  servingPrompt,
  summarizeServing,
} from "./serving.ts";
import { LlamaServerPeer } from "./llama_server_peer.ts";

const req = (ttftMs: number, endMs: number, promptTokens = 100, completionTokens = 11) => ({
  ttftMs,
  endMs,
  promptTokens,
  completionTokens,
});

Deno.test("burst figures follow llama-batched-bench: T_PP is the latest first token", () => {
  const s = burstStats([req(100, 600), req(200, 700), req(400, 900), req(300, 800)]);
  assertEquals(s.promptTokS, 400 / 0.4);
  assertEquals(s.ttftMs, 250);
  assertEquals(s.genTokS, 40 / 0.5); // 4 × 10 decoded tokens after T_PP, until 900 ms
  assertEquals([s.promptTokens, s.completionTokens], [400, 44]);
});

Deno.test("serving summary: medians over rounds, ratios paired per round", () => {
  const b = (p: number, t: number, g: number) => ({
    promptTokS: p,
    ttftMs: t,
    genTokS: g,
    promptTokens: 100,
    completionTokens: 64,
  });
  const rounds: RoundBursts[] = [
    new Map([[1, [b(100, 50, 10), b(100, 50, 10)]]]),
    new Map([[1, [b(90, 60, 12), b(100, 40, 10)]]]),
    new Map([[1, [b(300, 20, 30), b(100, 50, 20)]]]),
  ];
  const [row] = summarizeServing(rounds, [1]);
  assertEquals(row.ours.promptTokS, 100);
  assertEquals(row.theirs.ttftMs, 50);
  assertEquals(row.ratio.promptTokS, 1); // 1, 0.9, 3
  assertEquals(row.ratio.ttftMs, 1); // 50/50, 40/60, 50/20: theirs over ours
  assertEquals(row.ratio.genTokS, 1.2); // 1, 1.2, 1.5
  const text = renderServing({
    title: "t",
    lines: [],
    labels: ["neuron", "llama-server"],
    rows: [row],
    targets: [{ name: "prompt tok/s, 1 stream, neuron/llama-server", value: 1, limit: 0.95 }, {
      name: "generation",
      value: 0.9,
      limit: 0.95,
    }],
    notes: [],
  });
  assertMatch(text, /\| prompt tok\/s +\| 1 +\| 100 +\| 100 +\| 1\.00× +\|/);
  assertMatch(
    text,
    /PASS {2}prompt tok\/s, 1 stream, neuron\/llama-server: 1\.00× \(target ≥ 0\.95×\)/,
  );
  assertMatch(text, /FAIL {2}generation: 0\.90×/);
});

Deno.test("serving prompts are fresh from their first word, and about the size asked", () => {
  const a = servingPrompt(256, "r0c1i0");
  const b = servingPrompt(256, "r1c1i0");
  assertEquals(a.split(" ").length, 66);
  assertEquals(a.split(" ")[0] === b.split(" ")[0], false);
});

Deno.test("llama-server gets the neuron's threads, slots, per-slot context and batch", () => {
  const args = LlamaServerPeer.args(
    { modelPath: "/m.gguf", context: 1024, nBatch: 512, threads: 2, slots: 4 },
    8080,
  );
  const flag = (f: string) => args[args.indexOf(f) + 1];
  assertEquals([flag("-t"), flag("-tb"), flag("-np"), flag("-c")], ["2", "2", "4", "4096"]);
  assertEquals([flag("-b"), flag("-ub"), flag("-m"), flag("--port")], [
    "512",
    "512",
    "/m.gguf",
    "8080",
  ]);
  assertEquals(args.includes("--kv-unified"), false);
});
