import assert from "node:assert/strict";
import { integerRange, MAX_MAGNITUDE, nonNegativeRange, numberRange } from "./ranges.ts";
import { Grammar, seededRandom } from "./testing/gbnf_interpreter.ts";

const grammar = (body: string) => new Grammar(`root ::= ${body}\n`);

Deno.test("integer ranges match exactly the integers inside (brute force)", () => {
  const rnd = seededRandom(11);
  const pairs: [number, number][] = [[0, 0], [0, 9], [1, 10], [-5, 5], [-300, -7], [7, 1234], [
    99,
    100,
  ]];
  for (let i = 0; i < 40; i++) {
    const a = Math.floor(rnd() * 2400) - 1200;
    pairs.push([a, a + Math.floor(rnd() * 1300)]);
  }
  for (const [lo, hi] of pairs) {
    const g = grammar(integerRange(BigInt(lo), BigInt(hi)));
    for (let n = lo - 30; n <= hi + 30; n++) {
      assert.equal(g.matches(String(n)), n >= lo && n <= hi, `${n} in [${lo}, ${hi}]`);
    }
    assert.ok(!g.matches("-0") && !g.matches("007"), "only canonical forms");
  }
});

Deno.test("open-ended integer ranges", () => {
  const atLeast = grammar(integerRange(17n, undefined));
  for (
    const [s, ok] of [["17", true], ["16", false], ["18", true], ["100000", true], [
      "-20",
      false,
    ]] as const
  ) {
    assert.equal(atLeast.matches(s), ok, s);
  }
  assert.ok(atLeast.matches(String(MAX_MAGNITUDE)));
  assert.ok(!atLeast.matches(String(MAX_MAGNITUDE + 1n)), "capped at 16 digits");
  const atMost = grammar(integerRange(undefined, -3n));
  for (const [s, ok] of [["-3", true], ["-2", false], ["0", false], ["-9999", true]] as const) {
    assert.equal(atMost.matches(s), ok, s);
  }
  assert.throws(() => integerRange(5n, 4n), RangeError);
  assert.throws(() => nonNegativeRange(-1n, 3n), RangeError);
});

Deno.test("number ranges with integer bounds (inclusive and exclusive)", () => {
  const cases: [Parameters<typeof numberRange>, [string, boolean][]][] = [
    [[{ value: 0n, exclusive: false }, { value: 2n, exclusive: false }], [
      ["0", true],
      ["2", true],
      ["2.0", true],
      ["2.01", false],
      ["1.999", true],
      ["-0.5", false],
      ["0.0", true],
      ["3", false],
    ]],
    [[{ value: 0n, exclusive: true }, { value: 1n, exclusive: true }], [
      ["0", false],
      ["0.0", false],
      ["0.5", true],
      ["0.0001", true],
      ["1", false],
      ["0.999", true],
    ]],
    [[{ value: -3n, exclusive: true }, { value: 2n, exclusive: false }], [
      ["-3", false],
      ["-2.99", true],
      ["-3.5", false],
      ["-0.25", true],
      ["0", true],
      ["2", true],
      ["2.5", false],
      ["-2", true],
    ]],
    [[undefined, { value: -1n, exclusive: true }], [
      ["-1", false],
      ["-1.5", true],
      ["-1000", true],
      ["0", false],
      ["-0.5", false],
    ]],
    [[{ value: 5n, exclusive: false }, undefined], [["5", true], ["4.99", false], ["1e3", false], [
      "77.7",
      true,
    ]]],
  ];
  for (const [args, checks] of cases) {
    const g = grammar(numberRange(...args));
    for (const [s, ok] of checks) {
      assert.equal(
        g.matches(s),
        ok,
        `${s} with ${JSON.stringify(args, (_, v) => typeof v === "bigint" ? String(v) : v)}`,
      );
    }
  }
  assert.throws(
    () => numberRange({ value: 1n, exclusive: true }, { value: 1n, exclusive: false }),
    RangeError,
  );
});
