import { assertEquals } from "../tests/assert.ts";
import { createProgress, type Output } from "./progress.ts";

function capture(): Output & { lines: string[] } {
  const lines: string[] = [];
  return { interactive: false, line: (t) => lines.push(t), lines };
}

Deno.test("plain progress prints a line per 10% step, never repeating a step", () => {
  const out = capture();
  const p = createProgress("loading qwen", out);
  for (const f of [0, 0.02, 0.05, 0.1, 0.13, 0.45, 0.46, 0.999, 1, 1]) p.update(f);
  p.stop();
  p.update(1); // after stop: nothing
  assertEquals(out.lines, [
    "loading qwen: 0%",
    "loading qwen: 10%",
    "loading qwen: 45%",
    "loading qwen: 99%",
    "loading qwen: 100%",
  ]);
});

Deno.test("plain progress shows the detail and, without a total, throttles by time", () => {
  const out = capture();
  let t = 0;
  const p = createProgress("pulling a.gguf", out, { lineEveryMs: 1000, now: () => t });
  p.update(null, "1.0 MiB, 1.0 MiB/s");
  t = 500;
  p.update(null, "1.5 MiB, 1.0 MiB/s");
  t = 1000;
  p.update(null, "2.0 MiB, 1.0 MiB/s");
  const q = createProgress("pulling b.gguf", out, { percentStep: 50 });
  q.update(0.3, "3 B of 10 B, 1 B/s");
  q.update(0.6, "6 B of 10 B, 1 B/s");
  assertEquals(out.lines, [
    "pulling a.gguf: 1.0 MiB, 1.0 MiB/s",
    "pulling a.gguf: 2.0 MiB, 1.0 MiB/s",
    "pulling b.gguf: 30% (3 B of 10 B, 1 B/s)",
    "pulling b.gguf: 60% (6 B of 10 B, 1 B/s)",
  ]);
});
