/** Command-line flags of `deno task bench gateway`. */

import { Command, InvalidArgumentError } from "commander";
import { numberFlag, parseCommand } from "../common/options.ts";

export interface GatewayBenchOptions {
  /** Interleaved rounds; the report gives their median. */
  rounds: number;
  /** Concurrent streams of each measurement, ascending. */
  concurrency: number[];
  /** Canned backend: content events per stream and the pause between them. */
  events: number;
  intervalMs: number;
  /** Streams that arrive one by one while each measurement's N are open (0: none). */
  arrivals: number;
  /** Seconds after the largest measurement ends before the proxy's RSS is read again. */
  settleS: number;
  /** Processes the stream client runs in. */
  clientProcesses: number;
  /** Whole answers by wrk: seconds per measurement and concurrent clients. */
  wrkSeconds: number;
  wrkClients: number;
  skipWrk: boolean;
  /** Leave nginx out even when installed. */
  skipNginx: boolean;
  /** Leave out the bare `Deno.serve` + `fetch` relay (the runtime's own floor). */
  skipRelay: boolean;
  nginxWorkers: number;
  json: boolean;
}

/** Parses `1,256,1024`: distinct integers from 1 to 4096, sorted. */
export function concurrencyList(value: string): number[] {
  const parse = numberFlag("--concurrency", 1, 4096);
  const list = value.split(",").map((v) => parse(v.trim()));
  if (!list.length) throw new InvalidArgumentError("--concurrency: expected a list like 1,256");
  return [...new Set(list)].sort((a, b) => a - b);
}

function program(): Command {
  return new Command("bench gateway")
    .description(
      "What the gateway costs as a proxy of LLM streams: the same canned backend direct, " +
        "through the gateway and through nginx, in interleaved rounds",
    )
    .option(
      "--rounds <n>",
      "interleaved rounds (median reported)",
      numberFlag("--rounds", 1, 100),
      3,
    )
    .option(
      "--concurrency <list>",
      "concurrent streams of each measurement, comma-separated",
      concurrencyList,
      [1, 256, 1024],
    )
    .option("--events <n>", "content events per stream", numberFlag("--events", 1, 100_000), 500)
    .option(
      "--interval-ms <ms>",
      "pause between events",
      numberFlag("--interval-ms", 1, 10_000, false),
      20,
    )
    .option(
      "--arrivals <n>",
      "streams arriving one by one while the N are open, their TTFT timed apart",
      numberFlag("--arrivals", 0, 1000),
      50,
    )
    .option(
      "--settle-s <s>",
      "seconds after the largest measurement before reading RSS again",
      numberFlag("--settle-s", 0, 600, false),
      10,
    )
    .option(
      "--client-processes <n>",
      "processes the stream client runs in",
      numberFlag("--client-processes", 1, 16),
      2,
    )
    .option(
      "--wrk-seconds <s>",
      "whole answers by wrk: length of each measurement",
      numberFlag("--wrk-seconds", 1, 600),
      2,
    )
    .option(
      "--wrk-clients <n>",
      "whole answers by wrk: concurrent clients",
      numberFlag("--wrk-clients", 2, 1024),
      64,
    )
    .option("--skip-wrk", "leave the whole-answer table out", false)
    .option("--skip-nginx", "leave nginx out even when installed", false)
    .option("--skip-relay", "leave out the bare Deno.serve + fetch relay", false)
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
    concurrency: o.concurrency,
    events: o.events,
    intervalMs: o.intervalMs,
    arrivals: o.arrivals,
    settleS: o.settleS,
    clientProcesses: o.clientProcesses,
    wrkSeconds: o.wrkSeconds,
    wrkClients: o.wrkClients,
    skipWrk: o.skipWrk,
    skipNginx: o.skipNginx,
    skipRelay: o.skipRelay,
    nginxWorkers: o.nginxWorkers,
    json: o.json,
  };
}
