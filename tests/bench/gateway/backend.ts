/**
 * What answers behind the proxies: the canned stand-in (pure proxy cost) or a real neuron
 * on the tiny fixture (proxy cost next to real generation), plus the request bodies sent.
 */

import { ensureFixture, FIXTURES } from "../../fixtures/mod.ts";
import { makeStore, type Spawned, spawnServer, writeConfig } from "../../helpers/processes.ts";
import { startCannedBackend } from "./processes.ts";

export interface Backend {
  url: string;
  model: string;
  describe: string;
  /** The chat request bodies: a whole answer, and a stream. */
  body: { whole: string; stream: string };
  /** Token events a stream carries when every event passed (null: depends on the model). */
  tokensPerStream: number | null;
  log(): string;
  stop(): Promise<void>;
}

function chatBody(model: string, stream: boolean, extra: Record<string, unknown>): string {
  return JSON.stringify({
    model,
    messages: [{ role: "user", content: "Say hello to the benchmark." }],
    ...extra,
    ...(stream ? { stream: true } : {}),
  });
}

export async function startCanned(chunks: number, delayMs: number): Promise<Backend> {
  const model = "canned";
  const child = await startCannedBackend({ model, chunks, delayMs });
  return {
    url: child.url,
    model,
    describe: `canned stand-in: JSON answer, or ${chunks} token events ${delayMs} ms apart`,
    body: {
      whole: chatBody(model, false, { max_tokens: chunks }),
      stream: chatBody(model, true, { max_tokens: chunks }),
    },
    tokensPerStream: chunks,
    log: child.log,
    stop: child.stop,
  };
}

/** A neuron process with the tiny `plain` fixture loaded, one slot per client. */
export async function startNeuron(clients: number): Promise<Backend> {
  const model = "tiny";
  const maxTokens = 8;
  const store = await makeStore({ [model]: await ensureFixture(FIXTURES.plain) });
  const config = await writeConfig(
    "neuron.toml",
    `listen = "127.0.0.1:0"
model_dirs = ["${store}"]
slots = ${Math.min(256, clients)}
context = 128
n_threads = 1
n_batch = 512
max_queue = ${clients * 2}
log_level = "warn"
`,
  );
  const removeFiles = async () => {
    for (const dir of [store, config.slice(0, config.lastIndexOf("/"))]) {
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  };
  let neuron: Spawned;
  try {
    neuron = await spawnServer("cli/neuron.ts", config);
  } catch (e) {
    await removeFiles();
    throw e;
  }
  const stop = async () => {
    await neuron.stop();
    await removeFiles();
  };
  const res = await fetch(`${neuron.url}/models/load`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ model }),
  });
  if (!res.ok) {
    const text = await res.text();
    await stop();
    throw new Error(`neuron load failed: ${res.status} ${text}`);
  }
  await res.body?.cancel();
  const extra = { max_tokens: maxTokens, temperature: 0 };
  return {
    url: neuron.url,
    model,
    describe: `neuron on the tiny fixture, n_threads 1, greedy, max_tokens ${maxTokens}`,
    body: { whole: chatBody(model, false, extra), stream: chatBody(model, true, extra) },
    tokensPerStream: null,
    log: neuron.log,
    stop,
  };
}
