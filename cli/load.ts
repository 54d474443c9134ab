/**
 * `cortex load` / `cortex unload`: put a model on a neuron (where placement
 * says, or on `--node`) with progress while its weights load, or take it off.
 */

import { CliError } from "./cli_error.ts";
import { Client, errorMessageOf } from "./client.ts";
import { formatSeconds } from "./format.ts";
import {
  type LoadDone,
  LoadDoneSchema,
  LoadProgressSchema,
  UnloadResultSchema,
} from "../core/gateway/schemas.ts";
import type { GlobalOptions } from "./options.ts";
import { createProgress, type Output, stdoutOutput } from "./progress.ts";

export interface LoadOptions {
  node?: string;
  json?: boolean;
}

/**
 * Asks the gateway to load `model` and follows its progress events until
 * `done` (returned) or `error` (thrown as a CliError).
 */
export async function loadModel(
  client: Client,
  model: string,
  opts: { node?: string; output?: Output | null },
): Promise<LoadDone> {
  const progress = opts.output ? createProgress(`loading ${model}`, opts.output) : null;
  try {
    const body = { model, ...(opts.node ? { node: opts.node } : {}), stream: true };
    for await (const ev of client.postEvents("/cortex/load", body)) {
      if (ev.event === "progress") {
        const p = LoadProgressSchema.safeParse(ev.data);
        if (p.success) progress?.update(p.data.progress);
      } else if (ev.event === "done") {
        const done = LoadDoneSchema.safeParse(ev.data);
        if (!done.success) throw new CliError(`unexpected done event: ${JSON.stringify(ev.data)}`);
        if (!done.data.already) progress?.update(1);
        return done.data;
      } else if (ev.event === "error") {
        throw new CliError(
          `loading ${model} failed: ${errorMessageOf(ev.data) ?? JSON.stringify(ev.data)}`,
        );
      }
    }
  } finally {
    progress?.stop();
  }
  throw new CliError(`the gateway ended the load of ${model} without saying whether it worked`);
}

export async function loadCommand(
  globals: GlobalOptions,
  model: string,
  opts: LoadOptions,
): Promise<void> {
  const client = new Client(globals);
  const done = await loadModel(client, model, {
    node: opts.node,
    output: opts.json ? null : stdoutOutput(),
  });
  console.log(
    opts.json
      ? JSON.stringify(done, null, 2)
      : done.already
      ? `${done.model} is already loaded on ${done.node}`
      : `loaded ${done.model} on ${done.node} in ${formatSeconds(done.seconds)}`,
  );
}

export async function unloadCommand(
  globals: GlobalOptions,
  model: string,
  opts: LoadOptions,
): Promise<void> {
  const { value, raw } = await new Client(globals).postJson(
    "/cortex/unload",
    { model, ...(opts.node ? { node: opts.node } : {}) },
    UnloadResultSchema,
  );
  console.log(
    opts.json
      ? JSON.stringify(raw, null, 2)
      : `unloaded ${value.model} from ${value.unloaded_from.join(", ")}`,
  );
}
