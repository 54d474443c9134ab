/** Command-line flags of `deno task bench neuron`. */

import { Command } from "commander";
import { numberFlag, parseCommand } from "../common/options.ts";

export interface NeuronBenchOptions {
  /** Interleaved rounds; the report gives their median. */
  rounds: number;
  /** One-token request pairs per round (new prompts, then as many repeating one): TTFT. */
  ttftRequests: number;
  /** Long request pairs per round: the streamed decode rate. */
  genRequests: number;
  /** Tokens each long request generates. */
  maxTokens: number;
  threads: number;
  json: boolean;
}

function program(): Command {
  return new Command("bench neuron")
    .description(
      "HTTP overhead of the neuron: streamed chat over HTTP against the engine in-process, " +
        "on the bench fixture, greedy, in interleaved rounds",
    )
    .option(
      "--rounds <n>",
      "interleaved rounds (median reported)",
      numberFlag("--rounds", 1, 1000),
      5,
    )
    .option(
      "--ttft-requests <n>",
      "one-token request pairs per round, of new prompts and again of a repeated one",
      numberFlag("--ttft-requests", 1, 1000),
      10,
    )
    .option(
      "--gen-requests <n>",
      "long requests per peer per round",
      numberFlag("--gen-requests", 1, 1000),
      2,
    )
    .option("--max-tokens <n>", "tokens per long request", numberFlag("--max-tokens", 2, 4096), 128)
    .option("--threads <n>", "llama.cpp threads for both peers", numberFlag("--threads", 1, 256), 1)
    .option("--json", "print the result as JSON", false)
    .exitOverride()
    .configureOutput({ writeOut: () => {}, writeErr: () => {} });
}

/** Parses the arguments after `neuron`; throws UsageError naming the flag at fault. */
export function parseOptions(args: string[]): NeuronBenchOptions {
  const o = parseCommand(program(), args);
  return {
    rounds: o.rounds,
    ttftRequests: o.ttftRequests,
    genRequests: o.genRequests,
    maxTokens: o.maxTokens,
    threads: o.threads,
    json: o.json,
  };
}
