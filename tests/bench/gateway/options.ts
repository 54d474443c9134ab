/** Command-line flags of `deno task bench gateway`. */

import { Command, CommanderError, InvalidArgumentError, Option } from "commander";

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

export class UsageError extends Error {
  override name = "UsageError";
  constructor(message: string, readonly help = false) {
    super(message);
  }
}

function number(flag: string, min: number, max: number, integer = true) {
  return (value: string): number => {
    const n = Number(value);
    if (value.trim() === "" || !Number.isFinite(n) || (integer && !Number.isInteger(n))) {
      throw new InvalidArgumentError(`${flag}: expected a number, got "${value}"`);
    }
    if (n < min || n > max) {
      throw new InvalidArgumentError(`${flag}: expected ${min} to ${max}, got ${value}`);
    }
    return n;
  };
}

function program(): Command {
  return new Command("bench gateway")
    .description(
      "Proxy cost of the gateway: the same backend direct, through the gateway and through " +
        "nginx, in interleaved rounds",
    )
    .option("--rounds <n>", "interleaved rounds (median reported)", number("--rounds", 1, 100), 3)
    .option(
      "--seconds <s>",
      "length of each measurement (whole seconds: wrk's unit)",
      number("--seconds", 1, 600),
      2,
    )
    .option("--clients <n>", "concurrent clients under load", number("--clients", 2, 1024), 64)
    .addOption(
      new Option("--backend <kind>", "canned stand-in, or a real neuron on a tiny fixture")
        .choices(["canned", "neuron"]).default("canned"),
    )
    .option("--chunks <n>", "canned: token events per stream", number("--chunks", 1, 10_000), 32)
    .option(
      "--delay-ms <ms>",
      "canned: pause between token events",
      number("--delay-ms", 0, 1000, false),
      1,
    )
    .option("--skip-nginx", "leave nginx out even when installed", false)
    .option("--nginx-workers <n>", "nginx worker processes", number("--nginx-workers", 1, 64), 1)
    .option("--json", "print the result as JSON", false)
    .exitOverride()
    .configureOutput({ writeOut: () => {}, writeErr: () => {} });
}

/** Parses the arguments after `gateway`; throws UsageError naming the flag at fault. */
export function parseOptions(args: string[]): GatewayBenchOptions {
  const p = program();
  try {
    p.parse(args, { from: "user" });
  } catch (e) {
    if (e instanceof CommanderError) {
      if (e.code === "commander.helpDisplayed" || e.code === "commander.help") {
        throw new UsageError(p.helpInformation(), true);
      }
      throw new UsageError(`${e.message.replace(/^error: /, "")}\n\n${p.helpInformation()}`);
    }
    throw e;
  }
  const o = p.opts();
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
