/**
 * `cortex`: the gateway and its operator tools.
 *
 *   cortex serve [--config cortex.toml]      run the gateway
 *   cortex status | models                   the fleet and the catalogue (--json for scripts)
 *   cortex load | unload <model> [--node N]  put a model on a neuron or take it off
 *   cortex pull <hf:…> [--node N]            download a model into a neuron's store
 *   cortex bench --model M …                 load-test any OpenAI-compatible endpoint
 *   cortex llama-build [--cuda] [--peer] …    build llama.cpp for this host (cli/llama_build.ts)
 *
 * Global options: --url (env CORTEX_URL, default http://127.0.0.1:31313) and
 * --api-key (env CORTEX_API_KEY).
 *
 * Exit codes: 0 success, 1 the operation failed (gateway or neuron said no,
 * unreachable), 2 bad configuration or usage.
 */

import { Command, CommanderError, Option } from "commander";
import { createLogger } from "../core/log.ts";
import { benchCommand } from "./bench.ts";
import { CliError, EXIT } from "./cli_error.ts";
import { loadCommand, unloadCommand } from "./load.ts";
import { modelsCommand } from "./models.ts";
import {
  DEFAULT_URL,
  durationOption,
  type GlobalOptions,
  intOption,
  nameOption,
  numberOption,
} from "./options.ts";
import { pullCommand } from "./pull.ts";
import { statusCommand } from "./status.ts";
import { versionLine } from "./version.ts";

const EXIT_HELP = `
Exit codes:
  0  success
  1  the operation failed: the gateway or a neuron said no, or could not be reached
  2  bad usage or configuration`;

const BENCH_NOTES = `
Completion tokens come from the server's usage report (stream_options.include_usage).
Inter-token latency is the time between stream chunks that carry generated text; tok/s per
request counts tokens after the first over the time after the first (or over the whole
latency with --no-stream). Ctrl-C stops early and reports what finished.
A run where every request failed exits 1.
`;

/** The global options as a subcommand sees them. */
function globalsOf(cmd: Command): GlobalOptions {
  const o = cmd.optsWithGlobals<{ url: string; apiKey?: string }>();
  return { url: o.url, apiKey: o.apiKey };
}

export function buildProgram(): Command {
  const program = new Command("cortex")
    .description("cortex: one OpenAI + Anthropic endpoint over a fleet of llama.cpp neurons")
    .addOption(
      new Option("--url <url>", "gateway (or, for bench, any OpenAI-compatible server) base URL")
        .env("CORTEX_URL").default(DEFAULT_URL),
    )
    .addOption(
      new Option("--api-key <key>", "API key (a neuron's token for bench against a neuron)")
        .env("CORTEX_API_KEY"),
    )
    .version(versionLine("cortex"), "-V, --version", "print the version and exit")
    .showHelpAfterError("(add --help for usage)")
    // Usage errors exit 2 (commander's own default is 1), in subcommands too: they inherit this.
    .exitOverride((err: CommanderError) => {
      throw err;
    });

  program.command("serve")
    .description("run the gateway (with an embedded neuron when cortex.toml lists none)")
    .option("-c, --config <path>", "cortex.toml (defaults apply when omitted)")
    // Imported when used: the gateway and neuron modules would slow every other command.
    .action(async (opts) => (await import("./serve.ts")).cortexServe(opts));

  // Operator commands talk to a server: their help shows --url / --api-key and the exit codes.
  const operator = (name: string, notes = "") =>
    program.command(name).configureHelp({ showGlobalOptions: true })
      .addHelpText("after", notes + EXIT_HELP);

  operator("status")
    .description("neurons, devices and their memory, models with requests in flight and tok/s")
    .option("--json", "print the gateway's status as JSON")
    .action((opts, cmd) => statusCommand(globalsOf(cmd), opts));

  operator("models")
    .description("the catalogue: every model the gateway can serve, and where it is loaded")
    .option("--json", "print the catalogue as JSON")
    .action((opts, cmd) => modelsCommand(globalsOf(cmd), opts));

  operator("load")
    .description("load a model (where placement decides, or on --node) and show its progress")
    .argument("<model>", "model id or alias from `cortex models`", nameOption("model name"))
    .option("--node <name>", "the neuron to load it on", nameOption("neuron name"))
    .option("--json", "print the result as JSON (no progress)")
    .action((model, opts, cmd) => loadCommand(globalsOf(cmd), model, opts));

  operator("unload")
    .description("unload a model from every neuron holding it, or from --node")
    .argument("<model>", "model id or alias", nameOption("model name"))
    .option("--node <name>", "only from this neuron", nameOption("neuron name"))
    .option("--json", "print the result as JSON")
    .action((model, opts, cmd) => unloadCommand(globalsOf(cmd), model, opts));

  operator("pull")
    .description(
      "download a GGUF model into a neuron's store (resumable, size and sha256 checked; " +
        "the neuron uses its own HF_ENDPOINT and HF_TOKEN)",
    )
    .argument("<source>", "hf:org/repo/file.gguf or hf:org/repo:QUANT")
    .option(
      "--node <name>",
      "the neuron to pull to (default: the first one up)",
      nameOption("neuron name"),
    )
    .option("--json", "print the result as JSON (no progress)")
    .action((source, opts, cmd) => pullCommand(globalsOf(cmd), source, opts));

  operator("bench", BENCH_NOTES)
    .description(
      "load-test an OpenAI-compatible endpoint (the gateway, or a neuron with --url): " +
        "requests/s, time to first token, inter-token latency, latency and tok/s",
    )
    .requiredOption("--model <name>", "the model to ask for", nameOption("model name"))
    .option("--concurrency <n>", "requests in flight at once", intOption(1, 1024), 1)
    .option(
      "--duration <time>",
      'keep sending for this long ("30s", "2m", or seconds; default 10s unless --requests)',
      durationOption,
    )
    .option(
      "--requests <n>",
      "send this many requests (with --duration: whichever ends first)",
      intOption(1),
    )
    .option("--prompt-tokens <n>", "approximate prompt size in tokens", intOption(1, 1 << 20), 128)
    .option("--max-tokens <n>", "max_tokens of each request", intOption(1, 1 << 20), 128)
    .option("--temperature <t>", "sampling temperature (default: the server's)", numberOption(0, 2))
    .option("--no-stream", "plain JSON answers (no time to first token or inter-token latency)")
    .addOption(
      new Option("--timeout <time>", "longest one request may take").argParser(durationOption)
        .default(300_000, "300s"),
    )
    .option("--json", "print the report as JSON")
    .action((opts, cmd) => benchCommand(globalsOf(cmd), opts));

  // Its options are parsed by cli/llama_build.ts itself (the same parser as
  // `deno task llama-build`), so they pass through commander untouched.
  program.command("llama-build")
    .description(
      "build llama.cpp for this host (native CPU, or --cuda) into the cache the neuron loads " +
        "from first; --help for its options",
    )
    .helpOption(false)
    .allowUnknownOption()
    .allowExcessArguments()
    .argument("[options...]")
    .action(async (args: string[]) => (await import("./llama_build.ts")).llamaBuildCommand(args));

  return program;
}

/** Runs the CLI with `args` and returns the exit code (serve keeps running and returns 0). */
export async function main(args: string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(["deno", "cortex", ...args]);
    return EXIT.ok;
  } catch (e) {
    if (e instanceof CommanderError) {
      // --help and --version end with exit code 0; everything else is a usage error.
      return e.exitCode === 0 ? EXIT.ok : EXIT.usage;
    }
    if (e instanceof CliError) {
      console.error(`cortex: ${e.message}`);
      return e.exitCode;
    }
    createLogger("cortex").error("fatal", { error: (e as Error).message });
    return EXIT.failed;
  }
}

if (import.meta.main) {
  const code = await main(Deno.args);
  // serve keeps the process alive through its listeners; the other commands end here.
  if (code !== EXIT.ok) Deno.exit(code);
}
