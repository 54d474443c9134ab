import { assert, assertEquals, assertThrows } from "../../assert.ts";
import { UsageError } from "../common/options.ts";
import { parseOptions } from "./options.ts";

Deno.test("gateway bench options: defaults and flags", () => {
  const d = parseOptions([]);
  assertEquals([d.rounds, d.seconds, d.clients, d.backend, d.skipNginx], [
    3,
    2,
    64,
    "canned",
    false,
  ]);
  const o = parseOptions(["--rounds", "5", "--backend", "neuron", "--delay-ms", "0.5", "--json"]);
  assertEquals([o.rounds, o.backend, o.delayMs, o.json], [5, "neuron", 0.5, true]);
});

Deno.test("gateway bench options: a bad value names its flag", () => {
  assertThrows(() => parseOptions(["--seconds", "1.5"]), /--seconds/);
  assertThrows(() => parseOptions(["--backend", "vllm"]), /--backend/);
  assertThrows(() => parseOptions(["extra"]), /too many arguments.*extra/);
  const help = assertThrows(() => parseOptions(["--help"]));
  assert(help instanceof UsageError && help.help);
});
