import { InvalidArgumentError } from "commander";
import { assert, assertEquals, assertThrows } from "../tests/assert.ts";
import { CliError, EXIT } from "./cli_error.ts";
import { durationOption, intOption, normalizeBaseUrl, numberOption } from "./options.ts";

Deno.test("normalizeBaseUrl drops trailing slashes and an OpenAI-style /v1", () => {
  assertEquals(normalizeBaseUrl("http://127.0.0.1:31313"), "http://127.0.0.1:31313");
  assertEquals(normalizeBaseUrl("http://127.0.0.1:31313/"), "http://127.0.0.1:31313");
  assertEquals(normalizeBaseUrl("http://h:1/v1/"), "http://h:1");
  assertEquals(normalizeBaseUrl("https://h/cortex/v1"), "https://h/cortex");
});

Deno.test("normalizeBaseUrl refuses what is not an http(s) base URL, as a usage error", () => {
  for (const bad of ["localhost:31313", "ftp://h", "http://h/?a=1", ""]) {
    const e = assertThrows(() => normalizeBaseUrl(bad), /^--url:/);
    assert(e instanceof CliError);
    assertEquals(e.exitCode, EXIT.usage);
  }
});

Deno.test("intOption checks whole numbers and bounds", () => {
  const p = intOption(1, 10);
  assertEquals(p("7"), 7);
  assert(assertThrows(() => p("0"), /expected 1 to 10, got 0/) instanceof InvalidArgumentError);
  assertThrows(() => p("2.5"), /whole number/);
  assertThrows(() => p("x"), /whole number/);
  assertThrows(() => intOption(1)("0"), /at least 1/);
});

Deno.test("durationOption takes units or bare seconds and refuses zero", () => {
  assertEquals(durationOption("30s"), 30_000);
  assertEquals(durationOption("1m30s"), 90_000);
  assertEquals(durationOption("2.5"), 2_500);
  assertEquals(durationOption("250ms"), 250);
  assertThrows(() => durationOption("0"), /above zero/);
  assert(assertThrows(() => durationOption("soon"), /"soon"/) instanceof InvalidArgumentError);
});

Deno.test("numberOption takes decimals within bounds", () => {
  const p = numberOption(0, 2);
  assertEquals(p("0"), 0);
  assertEquals(p("0.7"), 0.7);
  assertThrows(() => p("2.5"), /expected 0 to 2, got 2.5/);
  assertThrows(() => p("warm"), /expected a number, got "warm"/);
  assertThrows(() => p(""), /expected a number/);
});
