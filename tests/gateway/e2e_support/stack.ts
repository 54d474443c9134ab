/**
 * A gateway in front of one real neuron process, as end-to-end tests drive it: the neuron
 * (`cli/neuron.ts serve`) with fixture models preloaded, optionally the grammar shim between
 * the two, and the gateway (`cli/cortex.ts serve`) with the neuron in `[[neurons]]`.
 */

import { freePort, type Spawned, spawnServer, writeConfig } from "../../helpers/processes.ts";
import { makeStore } from "../../helpers/processes.ts";
import { type GrammarShim, startGrammarShim } from "./grammar_shim.ts";

const NEURON_TOKEN = "e2e-neuron-token";

export interface StackOptions {
  /** Model id → fixture file; every one is loaded before the gateway starts. */
  models: Record<string, string>;
  /** `[auth] api_keys` of the gateway; none = no authentication. */
  apiKeys?: string[];
  /** Put the grammar shim between gateway and neuron (default true). */
  shim?: boolean;
  /** Context tokens per slot (default 512). */
  context?: number;
  /**
   * `[gateway] poll_interval`, which also paces the evictor (default 500: seconds, so that
   * only the gateway's own refreshes after loads and unloads update its view).
   */
  pollInterval?: string;
}

export interface Stack {
  /** The gateway's API base URL (what SDK clients get as `baseURL`). */
  url: string;
  neuron: Spawned;
  gateway: Spawned;
  /** Chat bodies the gateway sent the neuron, oldest first (empty without the shim). */
  chats: Record<string, unknown>[];
  /** The neuron's token ids for `text` as a prompt (special tokens parsed). */
  tokenIds(model: string, text: string): Promise<number[]>;
  /** The neuron's token count of OpenAI chat messages, rendered as a generation renders them. */
  countTokens(
    model: string,
    messages: unknown[],
    kwargs?: Record<string, unknown>,
  ): Promise<number>;
  /** Stops the gateway, the shim and the neuron. */
  stop(): Promise<void>;
}

export async function startStack(options: StackOptions): Promise<Stack> {
  const store = await makeStore(options.models);
  const neuronConfig = await writeConfig(
    "neuron.toml",
    `listen = "127.0.0.1:0"
model_dirs = ["${store}"]
slots = 2
context = ${options.context ?? 512}
n_threads = 1
n_batch = 128
token = "${NEURON_TOKEN}"
`,
  );
  const neuron = await spawnServer("cli/neuron.ts", neuronConfig);
  let shim: GrammarShim | undefined;
  let gateway: Spawned | undefined;
  const neuronPost = async (path: string, body: unknown) => {
    const res = await fetch(`${neuron.url}${path}`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${NEURON_TOKEN}` },
      body: JSON.stringify(body),
    });
    const json = await res.json();
    if (!res.ok) throw new Error(`neuron ${path} answered ${res.status}: ${JSON.stringify(json)}`);
    return json;
  };
  try {
    for (const model of Object.keys(options.models)) await neuronPost("/models/load", { model });
    if (options.shim ?? true) shim = startGrammarShim(neuron.url);
    const keys = options.apiKeys ?? [];
    const cortexConfig = await writeConfig(
      "cortex.toml",
      `[gateway]
listen = "127.0.0.1:0"
metrics_listen = "127.0.0.1:${freePort()}"
poll_interval = ${JSON.stringify(options.pollInterval ?? 500)}

[[neurons]]
name = "n1"
endpoint = "${shim?.url ?? neuron.url}"
token = "${NEURON_TOKEN}"

[auth]
api_keys = ${JSON.stringify(keys)}
`,
    );
    gateway = await spawnServer("cli/cortex.ts", cortexConfig);
  } catch (e) {
    await shim?.close();
    await neuron.kill();
    throw e;
  }
  const gw = gateway;
  return {
    url: gw.url,
    neuron,
    gateway: gw,
    chats: shim?.chats ?? [],
    async tokenIds(model, text) {
      const r = await neuronPost("/tokenize", { model, prompt: text, return_tokens: true });
      return r.tokens as number[];
    },
    async countTokens(model, messages, kwargs) {
      const r = await neuronPost("/tokenize", {
        model,
        messages,
        ...(kwargs ? { chat_template_kwargs: kwargs } : {}),
      });
      return r.count as number;
    },
    async stop() {
      await gw.stop();
      await shim?.close();
      await neuron.stop();
    },
  };
}
