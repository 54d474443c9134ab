/** What every bench command shares: flag parsing with commander, and usage errors. */

import { type Command, CommanderError, InvalidArgumentError, type OptionValues } from "commander";

/** A bad flag (the message names it, then the help text), or `--help` (`help` set). */
export class UsageError extends Error {
  override name = "UsageError";
  constructor(message: string, readonly help = false) {
    super(message);
  }
}

/** A parser for a numeric flag's value, from `min` to `max`; its message names the flag. */
export function numberFlag(flag: string, min: number, max: number, integer = true) {
  return (value: string): number => {
    const n = Number(value);
    if (value.trim() === "" || !Number.isFinite(n) || (integer && !Number.isInteger(n))) {
      throw new InvalidArgumentError(
        `${flag}: expected ${integer ? "an integer" : "a number"}, got "${value}"`,
      );
    }
    if (n < min || n > max) {
      throw new InvalidArgumentError(`${flag}: expected ${min} to ${max}, got ${value}`);
    }
    return n;
  };
}

/**
 * Parses `args` with `cmd` (built with `exitOverride` and silent output). A bad flag or an
 * extra argument throws UsageError with the help text; `--help` throws it with `help` set.
 */
export function parseCommand(cmd: Command, args: string[]): OptionValues {
  try {
    cmd.parse(args, { from: "user" });
  } catch (e) {
    if (!(e instanceof CommanderError)) throw e;
    if (e.code === "commander.helpDisplayed" || e.code === "commander.help") {
      throw new UsageError(cmd.helpInformation(), true);
    }
    throw new UsageError(`${e.message.replace(/^error: /, "")}\n\n${cmd.helpInformation()}`);
  }
  return cmd.opts();
}

/** Parses the flags; a UsageError is printed and becomes the exit code (0 for --help, else 2). */
export function optionsOrExitCode<T>(parse: () => T): T | number {
  try {
    return parse();
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    (e.help ? console.log : console.error)(e.message);
    return e.help ? 0 : 2;
  }
}
