/** Command-line flags of `deno task bench engine`. */

import { Command, CommanderError, InvalidArgumentError } from "commander";

export interface BenchOptions {
  /** llama.cpp threads for every peer (generation and batch). */
  threads: number;
  /** Interleaved rounds; the report gives their median. */
  rounds: number;
  /** Print the result as JSON instead of the table. */
  json: boolean;
  /** Leave node-llama-cpp out (no npm, no Node). */
  skipNode: boolean;
  /** Leave the memory child process out. */
  skipMemory: boolean;
}

export class UsageError extends Error {
  override name = "UsageError";
}

/** Commander's message names the flag and the value: "option '--rounds <n>' argument '0' …". */
function positiveInt(max: number) {
  return (value: string): number => {
    const n = Number(value);
    if (!/^\d+$/.test(value) || !Number.isSafeInteger(n) || n < 1 || n > max) {
      throw new InvalidArgumentError(`expected an integer from 1 to ${max}`);
    }
    return n;
  };
}

function program(): Command {
  return new Command("bench engine")
    .description(
      "Compare the engine with a plain FFI decode loop and node-llama-cpp on the bench fixture",
    )
    .option("--threads <n>", "llama.cpp threads for every peer", positiveInt(256), 1)
    .option(
      "--rounds <n>",
      "interleaved rounds (median reported)",
      positiveInt(1000),
      5,
    )
    .option("--json", "print the result as JSON", false)
    .option("--skip-node", "leave node-llama-cpp out", false)
    .option("--skip-memory", "leave the memory measurement out", false)
    .exitOverride()
    .configureOutput({ writeOut: () => {}, writeErr: () => {} });
}

/** The help text, for `--help` and usage errors. */
export function helpText(): string {
  return program().helpInformation();
}

/**
 * Parses the arguments after `engine`. Throws UsageError naming the flag at fault; `--help`
 * throws UsageError with the help text and `help` set.
 */
export function parseOptions(args: string[]): BenchOptions {
  const cmd = program();
  try {
    cmd.parse(args, { from: "user" });
  } catch (e) {
    if (e instanceof CommanderError) {
      if (e.code === "commander.helpDisplayed" || e.code === "commander.help") {
        throw Object.assign(new UsageError(helpText()), { help: true });
      }
      throw new UsageError(e.message.replace(/^error: /, ""));
    }
    throw e;
  }
  if (cmd.args.length) throw new UsageError(`unexpected argument "${cmd.args[0]}"`);
  const o = cmd.opts();
  return {
    threads: o.threads,
    rounds: o.rounds,
    json: o.json,
    skipNode: o.skipNode,
    skipMemory: o.skipMemory,
  };
}
