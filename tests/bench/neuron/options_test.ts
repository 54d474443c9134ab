import { assertEquals, assertThrows } from "../../assert.ts";
import { parseOptions } from "./options.ts";

Deno.test("neuron bench options: defaults, flags, and errors naming the flag", () => {
  const d = parseOptions([]);
  assertEquals([d.rounds, d.ttftRequests, d.genRequests, d.maxTokens, d.threads], [
    5,
    10,
    2,
    128,
    1,
  ]);
  assertEquals(parseOptions(["--max-tokens", "64", "--rounds", "2"]).maxTokens, 64);
  assertThrows(() => parseOptions(["--max-tokens", "1"]), /--max-tokens/);
  assertThrows(() => parseOptions(["--threads", "x"]), /--threads/);
});
