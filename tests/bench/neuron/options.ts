/** Command-line flags of `deno task bench neuron`. */

import { Command } from "commander";
import { numberFlag, parseCommand, UsageError } from "../common/options.ts";

/** What the neuron is measured against. */
export const AGAINST = ["engine", "llama-server", "prebuilt"] as const;
export type Against = (typeof AGAINST)[number];

export interface NeuronBenchOptions {
  /**
   * engine: the HTTP layer's cost (the neuron over HTTP against its engine in-process).
   * llama-server: the neuron against llama-server, both on the native build, over HTTP.
   * prebuilt: the neuron on the npm prebuilt against the neuron on the native build.
   */
  against: Against;
  /** llama-server / prebuilt: the native build's folder (default: the one in the cache). */
  build?: string;
  /** llama-server / prebuilt: about this many prompt tokens per request. */
  promptTokens: number;
  /** llama-server / prebuilt: a GGUF to serve instead of the bench fixture. */
  model?: string;
  /** llama-server / prebuilt: streams sent at once, one burst per entry. */
  concurrency: number[];
  /** Tokens per decode step (n_batch = n_ubatch), both servers. */
  nBatch: number;
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
      "the neuron over HTTP against a peer, on the bench fixture, greedy, in interleaved " +
        "rounds: its engine in-process (--against engine, the HTTP layer's cost), llama-server " +
        "from the same native build (--against llama-server), or itself on the npm prebuilt " +
        "against the native build (--against prebuilt)",
    )
    .option("--against <peer>", `engine, llama-server or prebuilt`, "engine")
    .option(
      "--build <dir>",
      "the native llama.cpp build (default: the verified one `deno task llama-build --peer` made)",
    )
    .option(
      "--prompt-tokens <n>",
      "prompt tokens per request (about; llama-server and prebuilt)",
      numberFlag("--prompt-tokens", 16, 8192),
      256,
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
    .option(
      "--model <path>",
      "a GGUF to serve instead of the bench fixture (llama-server, prebuilt)",
    )
    .option(
      "--concurrency <list>",
      "streams at once, one burst each, e.g. 1,8,32 (llama-server, prebuilt); slots = the largest",
      "1,4",
    )
    .option("--n-batch <n>", "tokens per decode step", numberFlag("--n-batch", 32, 8192), 512)
    .option("--max-tokens <n>", "tokens per long request", numberFlag("--max-tokens", 2, 4096), 128)
    .option("--threads <n>", "llama.cpp threads for both peers", numberFlag("--threads", 1, 256), 1)
    .option("--json", "print the result as JSON", false)
    .exitOverride()
    .configureOutput({ writeOut: () => {}, writeErr: () => {} });
}

/** Parses the arguments after `neuron`; throws UsageError naming the flag at fault. */
export function parseOptions(args: string[]): NeuronBenchOptions {
  const o = parseCommand(program(), args);
  if (!(AGAINST as readonly string[]).includes(o.against)) {
    throw new UsageError(`--against: expected ${AGAINST.join(", ")}, got "${o.against}"`);
  }
  const concurrency = String(o.concurrency).split(",").map((x) => Number(x.trim()));
  if (!concurrency.every((n) => Number.isInteger(n) && n >= 1 && n <= 256)) {
    throw new UsageError(
      `--concurrency: expected numbers from 1 to 256 like 1,4, got "${o.concurrency}"`,
    );
  }
  return {
    against: o.against,
    model: o.model,
    concurrency,
    nBatch: o.nBatch,
    build: o.build,
    promptTokens: o.promptTokens,
    rounds: o.rounds,
    ttftRequests: o.ttftRequests,
    genRequests: o.genRequests,
    maxTokens: o.maxTokens,
    threads: o.threads,
    json: o.json,
  };
}
