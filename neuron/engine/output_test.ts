import { assertEquals } from "../../tests/assert.ts";
import { OutputPipeline } from "./output.ts";

// A toy vocabulary: token id → bytes. 100/101 are the markers.
const enc = new TextEncoder();
const pieces: Record<number, Uint8Array> = {
  1: enc.encode("Hel"),
  2: enc.encode("lo"),
  3: enc.encode(" wor"),
  4: enc.encode("ld"),
  5: new Uint8Array([0xf0, 0x9f]), // first half of 😀
  6: new Uint8Array([0x98, 0x80]),
  7: enc.encode("ST"),
  8: enc.encode("OP!"),
  100: new Uint8Array(),
  101: new Uint8Array(),
};
const markers = { open: "<think>", close: "</think>", openToken: 100, closeToken: 101 };

function run(tokens: number[], opts: { start?: boolean; stop?: string[] } = {}) {
  const p = new OutputPipeline({
    piece: (t) => pieces[t],
    markers,
    startInReasoning: opts.start ?? false,
    stop: opts.stop ?? [],
  });
  let stopped: string | undefined;
  for (const t of tokens) {
    stopped = p.push(t);
    if (stopped) break;
  }
  p.finish();
  return { deltas: p.take(), stopped, reasoningTokens: p.reasoningTokens };
}

Deno.test("reasoning and content are routed by marker tokens, markers never in text", () => {
  const r = run([100, 1, 2, 101, 3, 4]);
  assertEquals(r.deltas, [
    { kind: "reasoning", text: "Hello" },
    { kind: "content", text: " world" },
  ]);
  assertEquals(r.reasoningTokens, 4);
});

Deno.test("prompt-opened reasoning starts in reasoning state", () => {
  const r = run([1, 101, 2], { start: true });
  assertEquals(r.deltas, [{ kind: "reasoning", text: "Hel" }, { kind: "content", text: "lo" }]);
});

Deno.test("emoji split across tokens comes out whole", () => {
  const r = run([1, 5, 6, 2]);
  assertEquals(r.deltas, [{ kind: "content", text: "Hel😀lo" }]);
});

Deno.test("stop string across tokens ends content without leaking", () => {
  const r = run([1, 7, 8, 2], { stop: ["STOP"] });
  assertEquals(r.stopped, "STOP");
  assertEquals(r.deltas, [{ kind: "content", text: "Hel" }]);
});

Deno.test("stop strings do not apply inside reasoning", () => {
  const r = run([100, 7, 8, 101, 1], { stop: ["STOP"] });
  assertEquals(r.stopped, undefined);
  assertEquals(r.deltas, [{ kind: "reasoning", text: "STOP!" }, { kind: "content", text: "Hel" }]);
});
