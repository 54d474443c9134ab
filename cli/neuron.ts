/**
 * `neuron serve [--config neuron.toml]`: the per-host inference daemon.
 *
 * Exit codes: 0 clean shutdown, 1 runtime failure, 2 bad configuration or usage.
 */

import { versionLine } from "./version.ts";
import { Command } from "commander";
import { formatConfigError, loadNeuronConfig } from "../core/config/mod.ts";
import { createLogger, parseLevel, setLogLevel } from "../core/log.ts";
import { UnknownBudgetDeviceError } from "../neuron/node.ts";
import { serveNeuron } from "../neuron/serve.ts";
import { RpcError } from "../neuron/llama/rpc.ts";
import { onShutdownSignal } from "./signals.ts";

export async function neuronServe(opts: { config?: string; listen?: string }): Promise<void> {
  let config;
  try {
    config = await loadNeuronConfig(opts.config, Deno.env.toObject());
  } catch (e) {
    console.error(formatConfigError(e));
    Deno.exit(2);
  }
  if (config.log_level) setLogLevel(parseLevel(config.log_level));
  let running;
  try {
    running = await serveNeuron(config, { listen: opts.listen });
  } catch (e) {
    if (!(e instanceof UnknownBudgetDeviceError) && !(e instanceof RpcError)) throw e;
    console.error(`${opts.config ?? "neuron.toml"}: ${e.message}`);
    Deno.exit(2);
  }
  // Machine-readable for supervisors and tests.
  console.log(`neuron listening on ${running.url}`);
  onShutdownSignal(async () => {
    await running.shutdown();
    Deno.exit(0);
  });
}

if (import.meta.main) {
  const program = new Command("neuron")
    .description("cortex neuron: serves GGUF models on this host's devices through llama.cpp")
    .version(versionLine("neuron"), "-V, --version", "print the version and exit")
    .showHelpAfterError();
  program.command("serve")
    .description("start the neuron HTTP API (lifecycle + OpenAI inference)")
    .option("-c, --config <path>", "neuron.toml (defaults apply when omitted)")
    .option("--listen <host:port>", "override the listen address")
    .action(neuronServe);
  program.exitOverride((err) => Deno.exit(err.exitCode === 0 ? 0 : 2));
  try {
    await program.parseAsync(["deno", "neuron", ...Deno.args]);
  } catch (e) {
    createLogger("neuron").error("fatal", { error: (e as Error).message });
    Deno.exit(1);
  }
}
