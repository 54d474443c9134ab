import { Command } from "commander";
import { assert, assertEquals, assertThrows } from "../../assert.ts";
import { numberFlag, optionsOrExitCode, parseCommand, UsageError } from "./options.ts";

const cmd = () =>
  new Command("bench x")
    .option("--n <n>", "a count", numberFlag("--n", 1, 10), 3)
    .option("--f <x>", "a fraction", numberFlag("--f", 0, 1, false), 0.5)
    .exitOverride()
    .configureOutput({ writeOut: () => {}, writeErr: () => {} });

Deno.test("parseCommand returns the flags, defaults included", () => {
  assertEquals(parseCommand(cmd(), ["--n", "4"]), { n: 4, f: 0.5 });
  assertEquals(parseCommand(cmd(), ["--f=0.25"]), { n: 3, f: 0.25 });
});

Deno.test("bad values, unknown flags and extra arguments are usage errors naming them", () => {
  for (
    const [args, expected] of [
      [["--n", "0"], /--n: expected 1 to 10, got 0/],
      [["--n", "1.5"], /--n: expected an integer, got "1.5"/],
      [["--f", "x"], /--f: expected a number, got "x"/],
      [["--nn", "2"], /--nn/],
      [["extra"], /extra/],
    ] as const
  ) {
    const e = assertThrows(() => parseCommand(cmd(), [...args]), expected);
    assert(e instanceof UsageError && !e.help);
    assert(e.message.includes("--n <n>"), "the help text follows the error");
  }
});

Deno.test("--help is a UsageError with help set; optionsOrExitCode maps both to exit codes", () => {
  const help = assertThrows(() => parseCommand(cmd(), ["--help"]));
  assert(help instanceof UsageError && help.help);
  const quiet = { log: console.log, error: console.error };
  console.log = console.error = () => {};
  try {
    assertEquals(optionsOrExitCode(() => parseCommand(cmd(), ["--help"])), 0);
    assertEquals(optionsOrExitCode(() => parseCommand(cmd(), ["--n", "99"])), 2);
    assertEquals(optionsOrExitCode(() => parseCommand(cmd(), [])), { n: 3, f: 0.5 });
  } finally {
    Object.assign(console, quiet);
  }
});
