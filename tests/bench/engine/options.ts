/** Command-line flags of `deno task bench engine`. */

import { Command } from "commander";
import { numberFlag, parseCommand } from "../common/options.ts";

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

function program(): Command {
  return new Command("bench engine")
    .description(
      "Compare the engine with a plain FFI decode loop and node-llama-cpp on the bench fixture",
    )
    .option("--threads <n>", "llama.cpp threads for every peer", numberFlag("--threads", 1, 256), 1)
    .option(
      "--rounds <n>",
      "interleaved rounds (median reported)",
      numberFlag("--rounds", 1, 1000),
      5,
    )
    .option("--json", "print the result as JSON", false)
    .option("--skip-node", "leave node-llama-cpp out", false)
    .option("--skip-memory", "leave the memory measurement out", false)
    .exitOverride()
    .configureOutput({ writeOut: () => {}, writeErr: () => {} });
}

/**
 * Parses the arguments after `engine`. Throws UsageError naming the flag at fault; `--help`
 * throws UsageError with the help text and `help` set.
 */
export function parseOptions(args: string[]): BenchOptions {
  const o = parseCommand(program(), args);
  return {
    threads: o.threads,
    rounds: o.rounds,
    json: o.json,
    skipNode: o.skipNode,
    skipMemory: o.skipMemory,
  };
}
