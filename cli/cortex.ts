/**
 * `cortex`: the gateway and its operator tools.
 *
 * Exit codes: 0 success, 1 the operation failed (gateway or neuron said no,
 * unreachable), 2 bad configuration or usage.
 */

import { Command } from "commander";
import { createLogger } from "../core/log.ts";
import { cortexServe } from "./serve.ts";

export function buildProgram(): Command {
  const program = new Command("cortex")
    .description("cortex: one OpenAI + Anthropic endpoint over a fleet of llama.cpp neurons")
    .showHelpAfterError();
  program.command("serve")
    .description("run the gateway (with an embedded neuron when cortex.toml lists none)")
    .option("-c, --config <path>", "cortex.toml (defaults apply when omitted)")
    .action(cortexServe);
  return program;
}

if (import.meta.main) {
  const program = buildProgram();
  program.exitOverride((err) => Deno.exit(err.exitCode === 0 ? 0 : 2));
  try {
    await program.parseAsync(["deno", "cortex", ...Deno.args]);
  } catch (e) {
    createLogger("cortex").error("fatal", { error: (e as Error).message });
    Deno.exit(1);
  }
}
