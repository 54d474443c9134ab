/**
 * A small fleet on loopback for gateway tests: real neuron processes
 * (`cli/neuron.ts serve`) with their own stores and memory budgets, and a
 * real gateway (`cli/cortex.ts serve`) fronting them, spoken to through the
 * official `openai` client and plain fetch.
 */

import OpenAI from "openai";
import { ensureFixture, FIXTURES } from "../fixtures/mod.ts";
import {
  freePort,
  makeStore,
  type Spawned,
  spawnServer,
  writeConfig,
} from "../helpers/processes.ts";

export type FixtureKind = keyof typeof FIXTURES;

export interface NeuronSpec {
  name: string;
  /** Store id → fixture variant. */
  store: Record<string, FixtureKind>;
  /** CPU memory budget in MiB (small budgets make eviction happen). */
  budgetMb?: number;
  token?: string;
  slots?: number;
  context?: number;
  /** Loaded on the neuron directly, outside the gateway: served id → store id. */
  preload?: Record<string, string>;
  /** `memory_budget_mb` in full (over `budgetMb`), e.g. `{ CPU = 50, RPC0 = 50 }`. */
  budgets?: string;
  /** More neuron.toml lines (rpc_servers, library_path). */
  toml?: string;
}

export interface FleetSpec {
  neurons: NeuronSpec[];
  /** models.toml text; none = no profiles. */
  models?: string;
  /** `[gateway]` keys → TOML values, over the test defaults (fast polling). */
  gateway?: Record<string, string | number>;
  /** `[eviction]` keys (TOML lines). */
  eviction?: string;
  /** `[queue]` keys (TOML lines). */
  queue?: string;
  apiKeys?: string[];
}

export interface TestNeuron {
  name: string;
  /** Temp dirs (store, config) removed when the fleet stops. */
  dirs: string[];
  url: string;
  token?: string;
  proc: Spawned;
  /** GET a neuron path with its token; JSON answer. */
  get(path: string): Promise<{ status: number; json: Record<string, unknown> }>;
  post(path: string, body: unknown): Promise<{ status: number; json: Record<string, unknown> }>;
  /** The neuron's own view of one model (from its /models), or undefined. */
  model(id: string): Promise<NeuronModelView | undefined>;
  /** The neuron's Prometheus text. */
  metrics(): Promise<string>;
}

export interface NeuronModelView {
  id: string;
  source: string;
  state: string;
  in_flight: number;
  queued: number;
  memory_bytes: number | null;
}

export interface TestFleet {
  url: string;
  metricsUrl: string;
  gateway: Spawned;
  neurons: Record<string, TestNeuron>;
  apiKey?: string;
  openai(opts?: { apiKey?: string; headers?: Record<string, string> }): OpenAI;
  /** A gateway request with the first API key (when keys are configured). */
  fetch(path: string, init?: RequestInit): Promise<Response>;
  post(path: string, body: unknown): Promise<{ status: number; json: Record<string, unknown> }>;
  status(): Promise<GatewayStatus>;
  metrics(): Promise<string>;
  /** Models the neuron holds loaded (per its /health), sorted. */
  loaded(neuron: string): Promise<string[]>;
  stop(): Promise<void>;
}

export interface GatewayStatus {
  neurons: {
    name: string;
    up: boolean;
    models: { id: string; state: string; in_flight: number; gateway_in_flight: number }[];
  }[];
  catalogue: { id: string; aliases: string[]; loaded_on: string[]; available_on: string[] }[];
}

async function jsonOf(res: Response): Promise<{ status: number; json: Record<string, unknown> }> {
  const text = await res.text();
  let json: Record<string, unknown> = {};
  try {
    json = JSON.parse(text);
  } catch {
    json = { text };
  }
  return { status: res.status, json };
}

async function startNeuron(spec: NeuronSpec): Promise<TestNeuron> {
  const files: Record<string, string> = {};
  for (const [id, kind] of Object.entries(spec.store)) {
    files[id] = await ensureFixture(FIXTURES[kind]);
  }
  const store = await makeStore(files);
  const config = await writeConfig(
    "neuron.toml",
    `listen = "127.0.0.1:0"
model_dirs = ["${store}"]
slots = ${spec.slots ?? 2}
context = ${spec.context ?? 512}
n_threads = 1
n_batch = 128
max_queue = 16
memory_budget_mb = ${spec.budgets ?? `{ CPU = ${spec.budgetMb ?? 200} }`}
${spec.token ? `token = "${spec.token}"` : ""}
${spec.toml ?? ""}
`,
  );
  const proc = await spawnServer("cli/neuron.ts", config);
  const auth: Record<string, string> = spec.token ? { authorization: `Bearer ${spec.token}` } : {};
  const n: TestNeuron = {
    name: spec.name,
    dirs: [store, config.slice(0, config.lastIndexOf("/"))],
    url: proc.url,
    token: spec.token,
    proc,
    get: async (path) => jsonOf(await fetch(`${proc.url}${path}`, { headers: auth })),
    post: async (path, body) =>
      jsonOf(
        await fetch(`${proc.url}${path}`, {
          method: "POST",
          headers: { ...auth, "content-type": "application/json" },
          body: JSON.stringify(body),
        }),
      ),
    async model(id) {
      const h = await n.get("/models");
      return (h.json.models as NeuronModelView[]).find((m) => m.id === id);
    },
    async metrics() {
      const res = await fetch(`${proc.url}/metrics`, { headers: auth });
      return await res.text();
    },
  };
  for (const [model, source] of Object.entries(spec.preload ?? {})) {
    const r = await n.post("/models/load", { model, source });
    if (r.status !== 200) {
      await proc.kill();
      throw new Error(`preloading ${model} on ${spec.name}: ${r.status} ${JSON.stringify(r.json)}`);
    }
  }
  return n;
}

/** Starts the neurons (in parallel), then the gateway in front of them. */
export async function startFleet(spec: FleetSpec): Promise<TestFleet> {
  const started = await Promise.allSettled(spec.neurons.map(startNeuron));
  const list = started.flatMap((r) => r.status === "fulfilled" ? [r.value] : []);
  const failed = started.find((r) => r.status === "rejected");
  if (failed) {
    await Promise.all(list.map((n) => n.proc.kill()));
    throw failed.reason;
  }
  const neurons = Object.fromEntries(list.map((n) => [n.name, n]));
  const dir = await Deno.makeTempDir({ prefix: "cortex-gw-" });
  if (spec.models !== undefined) await Deno.writeTextFile(`${dir}/models.toml`, spec.models);
  const metricsPort = freePort();
  const gateway: Record<string, string | number> = {
    listen: "127.0.0.1:0",
    metrics_listen: `127.0.0.1:${metricsPort}`,
    poll_interval: "200ms",
    down_after: "600ms",
    load_timeout: "60s",
    ...(spec.models !== undefined ? { models: "models.toml" } : {}),
    ...spec.gateway,
  };
  const toml = `[gateway]
${Object.entries(gateway).map(([k, v]) => `${k} = ${JSON.stringify(v)}`).join("\n")}

[eviction]
${spec.eviction ?? ""}

[queue]
${spec.queue ?? ""}

[auth]
api_keys = ${JSON.stringify(spec.apiKeys ?? [])}

${
    list.map((n) =>
      `[[neurons]]
name = "${n.name}"
endpoint = "${n.url}"
${n.token ? `token = "${n.token}"` : ""}
`
    ).join("\n")
  }`;
  await Deno.writeTextFile(`${dir}/cortex.toml`, toml);
  let proc: Spawned;
  try {
    proc = await spawnServer("cli/cortex.ts", `${dir}/cortex.toml`);
  } catch (e) {
    await Promise.all(list.map((n) => n.proc.kill()));
    throw e;
  }
  const apiKey = spec.apiKeys?.[0];
  const keyHeader: Record<string, string> = apiKey ? { authorization: `Bearer ${apiKey}` } : {};
  const fleet: TestFleet = {
    url: proc.url,
    metricsUrl: `http://127.0.0.1:${metricsPort}/metrics`,
    gateway: proc,
    neurons,
    apiKey,
    openai: (opts = {}) =>
      new OpenAI({
        baseURL: `${proc.url}/v1`,
        apiKey: opts.apiKey ?? apiKey ?? "unused",
        defaultHeaders: opts.headers,
        maxRetries: 0,
        timeout: 60_000,
      }),
    fetch: (path, init = {}) => {
      const headers = new Headers(init.headers);
      for (const [k, v] of Object.entries(keyHeader)) if (!headers.has(k)) headers.set(k, v);
      return fetch(`${proc.url}${path}`, { ...init, headers });
    },
    post: async (path, body) =>
      jsonOf(
        await fleet.fetch(path, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify(body),
        }),
      ),
    async status() {
      const res = await fleet.fetch("/cortex/status");
      if (res.status !== 200) throw new Error(`/cortex/status: ${res.status}`);
      return await res.json();
    },
    async metrics() {
      const res = await fetch(fleet.metricsUrl);
      return await res.text();
    },
    async loaded(name) {
      const h = await neurons[name].get("/health");
      return (h.json.models as { id: string; state: string }[])
        .filter((m) => m.state === "loaded").map((m) => m.id).sort();
    },
    async stop() {
      await proc.stop();
      await Promise.all(list.map((n) => n.proc.stop()));
      for (const d of [dir, ...list.flatMap((n) => n.dirs)]) {
        await Deno.remove(d, { recursive: true }).catch(() => {});
      }
    },
  };
  return fleet;
}

/** Polls `probe` until it returns a truthy value or the deadline passes. */
export async function waitFor<T>(
  what: string,
  probe: () => Promise<T> | T,
  timeoutMs = 10_000,
  everyMs = 50,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: T;
  while (true) {
    last = await probe();
    if (last) return last;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** Shares one fleet across the `Deno.test`s of a file; the last test stops it. */
export function fleetTests(spec: FleetSpec) {
  let fleet: Promise<TestFleet> | undefined;
  const get = () => fleet ??= startFleet(spec);
  const test = (name: string, fn: (f: TestFleet) => Promise<void>) =>
    Deno.test({
      name,
      sanitizeOps: false,
      sanitizeResources: false,
      fn: async () => fn(await get()),
    });
  const stop = () =>
    Deno.test({
      name: "stop the fleet",
      sanitizeOps: false,
      sanitizeResources: false,
      fn: async () => {
        if (fleet) await (await fleet).stop();
      },
    });
  return { test, stop, fleet: get };
}

/** Sum of every sample of `family` whose labels include all of `labels`. */
export function metricValue(
  text: string,
  family: string,
  labels: Record<string, string> = {},
): number {
  let sum = 0;
  for (const line of text.split("\n")) {
    if (!line.startsWith(`${family}{`) && !line.startsWith(`${family} `)) continue;
    const m = /^([^{\s]+)(?:\{(.*)\})?\s+(\S+)$/.exec(line);
    if (!m || m[1] !== family) continue;
    const have = Object.fromEntries(
      [...(m[2] ?? "").matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((x) => [x[1], x[2]]),
    );
    if (Object.entries(labels).every(([k, v]) => have[k] === v)) sum += Number(m[3]);
  }
  return sum;
}

/** Every label set of a family's samples. */
export function metricLabels(text: string, family: string): Record<string, string>[] {
  const out: Record<string, string>[] = [];
  for (const line of text.split("\n")) {
    const m = /^([^{\s]+)\{(.*)\}\s+\S+$/.exec(line);
    if (!m || m[1] !== family) continue;
    out.push(
      Object.fromEntries([...m[2].matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((x) => [x[1], x[2]])),
    );
  }
  return out;
}

export const user = (text: string) => [{ role: "user" as const, content: text }];

/** Adds llama.cpp-style extension fields (e.g. `grammar`) the SDK's types do not know. */
export const ext = <T extends object>(params: T, extra: Record<string, unknown>): T =>
  ({ ...params, ...extra }) as T;

/** A grammar that never lets a random-weight model end its answer: it runs to max_tokens. */
export const ENDLESS = "root ::= [a-z ] root";

/** A streamed chat answer of `maxTokens` endless tokens read to its end: tokens and finish. */
export async function endlessStream(
  c: OpenAI,
  model: string,
  maxTokens: number,
  text = "go",
): Promise<{ tokens: number; finish: string | null }> {
  const s = await c.chat.completions.create(ext({
    model,
    messages: user(text),
    max_tokens: maxTokens,
    stream: true,
  }, { grammar: ENDLESS }));
  let tokens = 0;
  let finish: string | null = null;
  for await (const ch of s) {
    if (ch.choices[0]?.delta.content) tokens++;
    finish = ch.choices[0]?.finish_reason ?? finish;
  }
  return { tokens, finish };
}
