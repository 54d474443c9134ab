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

Deno.test("neuron bench options: the peer, the bursts, and errors naming the flag", () => {
  const d = parseOptions([]);
  assertEquals([d.against, d.concurrency, d.promptTokens, d.nBatch], ["engine", [1, 4], 256, 512]);
  const o = parseOptions([
    "--against",
    "llama-server",
    "--concurrency",
    "1,8,32",
    "--n-batch",
    "2048",
  ]);
  assertEquals([o.against, o.concurrency, o.nBatch], ["llama-server", [1, 8, 32], 2048]);
  assertThrows(
    () => parseOptions(["--against", "ollama"]),
    /--against: expected engine, llama-server, prebuilt/,
  );
  assertThrows(() => parseOptions(["--concurrency", "1,x"]), /--concurrency/);
});
