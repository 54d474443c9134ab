import { assert, assertEquals } from "../../assert.ts";
import { cpuMs, cpuMsOf, parseStatTicks } from "./cpu.ts";

Deno.test("parseStatTicks adds utime and stime past a command name with spaces", () => {
  const stat = "4242 (deno (x) y) S 1 4242 4242 0 -1 4194560 100 0 0 0 731 52 0 0 20 0 9 0 " +
    "12345 1000 200 18446744073709551615";
  assertEquals(parseStatTicks(stat), 783);
});

Deno.test("cpuMs grows while this process works, and is null without a process", async () => {
  const before = await cpuMs(Deno.pid);
  assert(before !== null && before > 0);
  // Spin until the clock ticks over (10 ms of CPU at most), however busy the machine is.
  let after = before;
  let x = 0;
  const deadline = performance.now() + 5000;
  while (after === before && performance.now() < deadline) {
    for (let i = 0; i < 1e5; i++) x += Math.sqrt(i);
    after = (await cpuMs(Deno.pid))!;
  }
  assert(after > before, `cpu ${before} → ${after} (${x > 0})`);
  assertEquals(await cpuMs(null), null);
});

Deno.test("cpuMsOf adds processes up, and is null when one cannot be read", async () => {
  const one = (await cpuMs(Deno.pid))!;
  const two = (await cpuMsOf([Deno.pid, Deno.pid]))!;
  assert(two >= 2 * one, `${two} < 2 × ${one}`);
  assertEquals(await cpuMsOf([Deno.pid, 0x7fffffff]), null);
});
