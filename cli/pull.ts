/**
 * `cortex pull hf:org/repo/file.gguf | hf:org/repo:QUANT`: a neuron
 * downloads the model into its store (resumable, size and sha256 checked,
 * HF_ENDPOINT / HF_TOKEN from the neuron's environment) while the CLI shows
 * the transfer.
 */

import { parseModelSource } from "../core/config/mod.ts";
import {
  PullErrorEventSchema,
  PullProgressSchema,
  type PullResult,
  PullResultSchema,
} from "../core/neuron/pull.ts";
import { CliError, usageError } from "./cli_error.ts";
import { Client, errorMessageOf } from "./client.ts";
import { formatBytes, formatRate } from "./format.ts";
import type { GlobalOptions } from "./options.ts";
import { createProgress, type Output, type Progress, stdoutOutput } from "./progress.ts";

const SOURCE_EXPECTED = '"hf:org/repo/file.gguf" or "hf:org/repo:QUANT"';

/** Checks a pull source before anything is sent (a bad one is a usage error). */
export function checkPullSource(source: string): void {
  let kind: string;
  try {
    kind = parseModelSource(source).kind;
  } catch (e) {
    throw usageError(`source "${source}": ${(e as Error).message}; expected ${SOURCE_EXPECTED}`);
  }
  if (kind !== "hf") {
    throw usageError(
      `source "${source}" is a path in a model store; a pull needs ${SOURCE_EXPECTED}`,
    );
  }
}

/** "12.3 MiB of 27.1 MiB, 5.2 MiB/s" */
export function pullDetail(bytes: number, total: number | null, rate: number): string {
  const size = total === null
    ? formatBytes(bytes)
    : `${formatBytes(bytes)} of ${formatBytes(total)}`;
  return `${size}, ${formatRate(rate)}`;
}

/** Relays a pull through the gateway and follows it to `done` (returned) or `error` (thrown). */
export async function pullModel(
  client: Client,
  source: string,
  opts: { node?: string; output?: Output | null },
): Promise<PullResult & { node: string | null }> {
  // One display per file: split models move from part to part.
  let progress: Progress | null = null;
  let file = "";
  try {
    const body = { source, ...(opts.node ? { node: opts.node } : {}), stream: true };
    // The gateway names the neuron it relayed the pull to.
    let node: string | null = opts.node ?? null;
    const onHeaders = (h: Headers) => node = h.get("x-cortex-node") ?? node;
    for await (const ev of client.postEvents("/cortex/pull", body, { onHeaders })) {
      if (ev.event === "progress") {
        const p = PullProgressSchema.safeParse(ev.data);
        if (!p.success || !opts.output) continue;
        const { bytes, total, rate } = p.data;
        if (p.data.file !== file) {
          progress?.stop();
          file = p.data.file;
          progress = createProgress(`pulling ${file}`, opts.output);
        }
        progress!.update(total ? bytes / total : null, pullDetail(bytes, total, rate));
      } else if (ev.event === "done") {
        const r = PullResultSchema.safeParse(ev.data);
        if (!r.success) throw new CliError(`unexpected done event: ${JSON.stringify(ev.data)}`);
        return { ...r.data, node };
      } else if (ev.event === "error") {
        const e = PullErrorEventSchema.safeParse(ev.data);
        const why = e.success ? e.data.error.message : errorMessageOf(ev.data);
        throw new CliError(`pulling ${source} failed: ${why ?? JSON.stringify(ev.data)}`);
      }
    }
  } finally {
    progress?.stop();
  }
  throw new CliError(`the pull of ${source} ended without saying whether it worked`);
}

export async function pullCommand(
  globals: GlobalOptions,
  source: string,
  opts: { node?: string; json?: boolean },
): Promise<void> {
  checkPullSource(source);
  const client = new Client(globals);
  const r = await pullModel(client, source, {
    node: opts.node,
    output: opts.json ? null : stdoutOutput(),
  });
  if (opts.json) {
    console.log(JSON.stringify(r, null, 2));
    return;
  }
  console.log(describePull(r));
}

/** "pulled repo/file to local (repo/file.gguf, 1.2 GiB, sha256 …)" */
export function describePull(r: PullResult & { node: string | null }): string {
  const files = r.files.length > 1
    ? `${r.files.length} files from ${r.path_relative}`
    : r.path_relative;
  const facts = `(${files}, ${formatBytes(r.size_bytes)}${r.sha256 ? `, sha256 ${r.sha256}` : ""})`;
  const store = r.node ? `${r.node}'s store` : "the store";
  return r.already
    ? `${r.model} is already in ${store} ${facts}`
    : `pulled ${r.model} into ${store} ${facts}`;
}
