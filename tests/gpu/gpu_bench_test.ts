/** The GPU benchmark driver, run end to end on the CPU with the tiny fixture model. */

import { assert, assertEquals, assertMatch, assertThrows } from "../assert.ts";
import { parseCli, runBench, UsageError } from "./gpu_bench.ts";

Deno.test("--cpu measures both rounds, every request generating exactly --gen tokens", async () => {
  const o = parseCli(["--cpu", "--prompt", "48", "--gen", "12", "--parallel", "4"])!;
  const lines: string[] = [];
  const report = await runBench(o, (s) => lines.push(s));
  assert(report);
  assertEquals(report.rounds.map((r) => r.batch), [1, 4]);
  for (const r of report.rounds) {
    assertEquals([r.promptTokens, r.genTokens], [48, 12]);
    assertEquals(r.finish, { length: r.batch });
    assert(r.sPp > 0 && r.sTg > 0 && r.perStreamTg > 0, JSON.stringify(r));
    assert(r.tPpS < r.tS, "the first token comes before the last one");
  }
  assertMatch(lines.join("\n"), /\|\s+48 \|\s+12 \|\s+4 \|/);
});

Deno.test("bad options are refused naming the flag", () => {
  assertThrows(() => parseCli(["--parallel", "0"]), /^--parallel: expected a positive integer/);
  assertThrows(() => parseCli(["--gen", "x"]), /^--gen: expected a positive integer, got "x"/);
  assert(assertThrows(() => parseCli(["--gpu"]), /gpu/) instanceof UsageError);
  assertEquals(parseCli(["--help"]), null);
  const gpu = parseCli(["--n-layer", "4"])!;
  assertEquals([gpu.cpu, gpu.model.nLayer, gpu.model.nEmbd, gpu.prompt, gpu.gen], [
    false,
    4,
    4096,
    512,
    128,
  ]);
});
