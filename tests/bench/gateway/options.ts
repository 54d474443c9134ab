/** Command-line flags of `deno task bench gateway`. */

import { Command, Option } from "commander";
import { numberFlag, parseCommand } from "../common/options.ts";

export interface GatewayBenchOptions {
  /** Interleaved rounds; the report gives their median. */
  rounds: number;
  /** Seconds each measurement runs. */
  seconds: number;
  /** Concurrent clients of the loaded measurements (the other ones use 1). */
  clients: number;
  /** What answers behind the proxies. */
  backend: "canned" | "neuron";
  /** Canned backend: token events per stream and the pause between them. */
  chunks: number;
  delayMs: number;
  /** Leave nginx out even when installed. */
  skipNginx: boolean;
  nginxWorkers: number;
  json: boolean;
}

function program(): Command {
  return new Command("bench gateway")
    .description(
      "Proxy cost of the gateway: the same backend direct, through the gateway and through " +
        "nginx, in interleaved rounds",
    )
    .option(
      "--rounds <n>",
      "interleaved rounds (median reported)",
      numberFlag("--rounds", 1, 100),
      3,
    )
    .option(
      "--seconds <s>",
      "length of each measurement (whole seconds: wrk's unit)",
      numberFlag("--seconds", 1, 600),
      2,
    )
    .option("--clients <n>", "concurrent clients under load", numberFlag("--clients", 2, 1024), 64)
    .addOption(
      new Option("--backend <kind>", "canned stand-in, or a real neuron on a tiny fixture")
        .choices(["canned", "neuron"]).default("canned"),
    )
    .option(
      "--chunks <n>",
      "canned: token events per stream",
      numberFlag("--chunks", 1, 10_000),
      32,
    )
    .option(
      "--delay-ms <ms>",
      "canned: pause between token events",
      numberFlag("--delay-ms", 0, 1000, false),
      1,
    )
    .option("--skip-nginx", "leave nginx out even when installed", false)
    .option(
      "--nginx-workers <n>",
      "nginx worker processes",
      numberFlag("--nginx-workers", 1, 64),
      1,
    )
    .option("--json", "print the result as JSON", false)
    .exitOverride()
    .configureOutput({ writeOut: () => {}, writeErr: () => {} });
}

/** Parses the arguments after `gateway`; throws UsageError naming the flag at fault. */
export function parseOptions(args: string[]): GatewayBenchOptions {
  const o = parseCommand(program(), args);
  return {
    rounds: o.rounds,
    seconds: o.seconds,
    clients: o.clients,
    backend: o.backend,
    chunks: o.chunks,
    delayMs: o.delayMs,
    skipNginx: o.skipNginx,
    nginxWorkers: o.nginxWorkers,
    json: o.json,
  };
}
