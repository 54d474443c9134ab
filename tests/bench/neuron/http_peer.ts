/**
 * A real neuron process (`cli/neuron.ts serve`) driven over HTTP: streamed chat
 * completions, timed per SSE frame as a client sees them.
 */

import { type Spawned, spawnServer, writeConfig } from "../../helpers/processes.ts";
import { type Peer, type RequestFigures, type RequestSpec, TEMPLATE_KWARGS } from "./workload.ts";

export interface NeuronSetup {
  modelPath: string;
  /** Context per slot. */
  context: number;
  nBatch: number;
  threads: number;
  /** Parallel requests (default 1). */
  slots?: number;
  /** library_path for the neuron (default: what it finds itself). */
  libraryPath?: string;
  /** Every layer on the GPU (llama-server's -ngl; the neuron's default on a GPU). */
  gpu?: boolean;
}

const MODEL = "bench";

interface Frame {
  choices?: {
    delta?: { content?: string; reasoning_content?: string; tool_calls?: unknown[] };
    finish_reason?: string | null;
  }[];
  usage?: { prompt_tokens: number; completion_tokens: number };
  error?: { message: string };
}

/** Whether a chat chunk carries generated output (a token's text, or the finish). */
export function carriesToken(f: Frame): boolean {
  const c = f.choices?.[0];
  if (!c) return false;
  if (c.finish_reason) return true;
  const d = c.delta ?? {};
  return !!(d.content || d.reasoning_content || d.tool_calls?.length);
}

/** The `data:` payloads of complete SSE events in `buf`, and what is left over. */
export function takeEvents(buf: string): { data: string[]; rest: string } {
  const data: string[] = [];
  let start = 0;
  for (let end = buf.indexOf("\n\n"); end !== -1; end = buf.indexOf("\n\n", start)) {
    const ev = buf.slice(start, end);
    start = end + 2;
    for (const line of ev.split("\n")) if (line.startsWith("data: ")) data.push(line.slice(6));
  }
  return { data, rest: buf.slice(start) };
}

/** The body of one streamed chat request, as both servers are sent it. */
export function chatBody(model: string, spec: RequestSpec): Record<string, unknown> {
  return {
    model,
    messages: [{ role: "user", content: spec.prompt.text }],
    chat_template_kwargs: TEMPLATE_KWARGS,
    max_tokens: spec.maxTokens,
    temperature: 0,
    logit_bias: spec.logitBias,
    stream: true,
    stream_options: { include_usage: true },
  };
}

/**
 * Sends a streamed chat completion to `url` and times it per SSE frame as a client sees it:
 * the first frame carrying a token, the finish, and the usage report.
 */
export async function streamChat(
  url: string,
  body: Record<string, unknown>,
  who: string,
): Promise<RequestFigures> {
  const t0 = performance.now();
  const res = await fetch(`${url}/v1/chat/completions`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  if (!res.ok || !res.body) throw new Error(`${who}: ${res.status} ${await res.text()}`);
  let ttftMs = NaN;
  let endMs = NaN;
  let usage: Frame["usage"];
  let buf = "";
  const dec = new TextDecoder();
  for await (const chunk of res.body) {
    const now = performance.now() - t0;
    const { data, rest } = takeEvents(buf + dec.decode(chunk, { stream: true }));
    buf = rest;
    for (const d of data) {
      if (d === "[DONE]") continue;
      const f = JSON.parse(d) as Frame;
      if (f.error) throw new Error(`${who} stream: ${f.error.message}`);
      if (f.usage) usage = f.usage;
      if (!carriesToken(f)) continue;
      if (Number.isNaN(ttftMs)) ttftMs = now;
      if (f.choices?.[0]?.finish_reason) endMs = now;
    }
  }
  if (!usage || Number.isNaN(ttftMs) || Number.isNaN(endMs)) {
    throw new Error(`${who}: the stream ended without a token, a finish or the usage`);
  }
  return {
    ttftMs,
    endMs,
    promptTokens: usage.prompt_tokens,
    completionTokens: usage.completion_tokens,
  };
}

export class HttpPeer implements Peer {
  readonly name = "http";
  readonly server: Spawned;
  /** The model store and the config's directory, removed at close. */
  readonly #dirs: string[];

  private constructor(server: Spawned, dirs: string[]) {
    this.server = server;
    this.#dirs = dirs;
  }

  static async start(setup: NeuronSetup): Promise<HttpPeer> {
    // A hard link where it can be (the GPU benchmark's model is 14 GB); the store refuses
    // symbolic links that lead out of it.
    const store = await Deno.makeTempDir({ prefix: "cortex-store-" });
    const file = `${store}/${MODEL}.gguf`;
    await Deno.link(setup.modelPath, file).catch(() => Deno.copyFile(setup.modelPath, file));
    const config = await writeConfig(
      "neuron.toml",
      `listen = "127.0.0.1:0"
model_dirs = ["${store}"]
slots = ${setup.slots ?? 1}
context = ${setup.context}
n_threads = ${setup.threads}
n_batch = ${setup.nBatch}
max_queue = 16
log_level = "warn"
${setup.libraryPath ? `library_path = "${setup.libraryPath}"\n` : ""}`,
    );
    const dirs = [store, config.slice(0, config.lastIndexOf("/"))];
    let server: Spawned;
    try {
      server = await spawnServer("cli/neuron.ts", config, { env: { CORTEX_LOG: "warn" } });
    } catch (e) {
      for (const d of dirs) await Deno.remove(d, { recursive: true }).catch(() => {});
      throw e;
    }
    const peer = new HttpPeer(server, dirs);
    try {
      await peer.#post("/models/load", {
        model: MODEL,
        context: setup.context,
        slots: setup.slots ?? 1,
      });
    } catch (e) {
      await peer.close();
      throw e;
    }
    return peer;
  }

  async #post(path: string, body: unknown): Promise<unknown> {
    const res = await fetch(`${this.server.url}${path}`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(body),
    });
    const json = await res.json();
    if (!res.ok) throw new Error(`neuron ${path}: ${res.status} ${JSON.stringify(json)}`);
    return json;
  }

  run(spec: RequestSpec): Promise<RequestFigures> {
    return streamChat(this.server.url, chatBody(MODEL, spec), "neuron");
  }

  /** The llama.cpp library the neuron runs (its /discovery). */
  async library(): Promise<{ dir: string; origin?: string; variant?: string }> {
    const r = await fetch(`${this.server.url}/discovery`);
    return (await r.json()).library;
  }

  async close(): Promise<void> {
    await this.server.stop();
    for (const d of this.#dirs) await Deno.remove(d, { recursive: true }).catch(() => {});
  }
}
