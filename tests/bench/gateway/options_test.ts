import { assert, assertEquals, assertThrows } from "../../assert.ts";
import { UsageError } from "../common/options.ts";
import { concurrencyList, parseOptions } from "./options.ts";

Deno.test("gateway bench options: defaults are the issue's LLM streams", () => {
  const d = parseOptions([]);
  assertEquals(
    [d.rounds, d.concurrency, d.events, d.intervalMs, d.arrivals, d.settleS, d.clientProcesses],
    [3, [1, 256, 1024], 500, 20, 50, 10, 2],
  );
  assertEquals([d.wrkSeconds, d.wrkClients, d.skipWrk, d.skipNginx, d.json], [
    2,
    64,
    false,
    false,
    false,
  ]);
  const o = parseOptions([
    "--concurrency",
    "64",
    "--events",
    "50",
    "--interval-ms",
    "2.5",
    "--arrivals",
    "0",
    "--skip-wrk",
    "--json",
  ]);
  assertEquals([o.concurrency, o.events, o.intervalMs, o.arrivals, o.skipWrk, o.json], [
    [64],
    50,
    2.5,
    0,
    true,
    true,
  ]);
});

Deno.test("concurrencyList sorts and dedupes; a bad entry names the flag", () => {
  assertEquals(concurrencyList("1024, 1,256,1"), [1, 256, 1024]);
  assertThrows(() => concurrencyList("1,,2"), /--concurrency/);
  assertThrows(() => concurrencyList("0"), /--concurrency: expected 1 to 4096/);
});

Deno.test("gateway bench options: a bad value names its flag", () => {
  assertThrows(() => parseOptions(["--concurrency", "1,x"]), /--concurrency/);
  assertThrows(() => parseOptions(["--events", "0"]), /--events/);
  assertThrows(() => parseOptions(["--arrivals", "-1"]), /--arrivals/);
  assertThrows(() => parseOptions(["--backend", "neuron"]), /unknown option '--backend'/);
  assertThrows(() => parseOptions(["extra"]), /too many arguments.*extra/);
  const help = assertThrows(() => parseOptions(["--help"]));
  assert(help instanceof UsageError && help.help);
});
