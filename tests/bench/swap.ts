/**
 * `deno task bench swap [--seconds N] [--clients N] [--tokens N]`: the swap queue against
 * today's refusal. One real neuron whose CPU budget holds one of two tiny models, a real
 * gateway in front; N clients (default 8), each alternating streamed chat requests between
 * the two models for a fixed time. Run twice, the same way: with the queue (the defaults)
 * and with it off (`[queue] timeout = 0`: a request whose room is busy gets a 503 at once).
 * A client that gets an error waits 100 ms (a polite retry) and goes on with the next model.
 */

import OpenAI from "openai";
import { metricValue, startFleet, type TestFleet, user } from "../gateway/harness.ts";

const progress = (line: string) => console.error(`bench swap: ${line}`);

interface Options {
  seconds: number;
  clients: number;
  tokens: number;
}

function parse(args: string[]): Options | string {
  const o: Options = { seconds: 30, clients: 8, tokens: 16 };
  for (let i = 0; i < args.length; i++) {
    const [k, v] = [args[i], Number(args[i + 1])];
    const key = k.replace(/^--/, "") as keyof Options;
    if (!(key in o) || !Number.isInteger(v) || v < 1) {
      return `usage: deno task bench swap [--seconds N] [--clients N] [--tokens N]`;
    }
    o[key] = v;
    i++;
  }
  return o;
}

interface RunResult {
  completed: number;
  errors: Map<string, number>;
  latencies: number[];
  swaps: number;
  seconds: number;
  waitP50: number | null;
  waitP95: number | null;
}

const MODELS = `
[[models]]
id = "a"
source = "plain.gguf"

[[models]]
id = "b"
source = "plain.gguf"
`;

async function run(queue: boolean, o: Options): Promise<RunResult> {
  const fleet = await startFleet({
    // ~10 MB per model at context 512 × 2 slots: 15 MiB holds one.
    neurons: [{ name: "n", store: { plain: "plain" }, budgetMb: 15 }],
    models: MODELS,
    gateway: { poll_interval: "2s", down_after: "5s" },
    queue: queue ? "" : "timeout = 0",
  });
  try {
    return await drive(fleet, o);
  } finally {
    await fleet.stop();
  }
}

async function drive(f: TestFleet, o: Options): Promise<RunResult> {
  const c = new OpenAI({ baseURL: `${f.url}/v1`, apiKey: "x", maxRetries: 0, timeout: 600_000 });
  const errors = new Map<string, number>();
  const latencies: number[] = [];
  let completed = 0;
  const t0 = performance.now();
  const end = t0 + o.seconds * 1000;
  await Promise.all(Array.from({ length: o.clients }, async (_, i) => {
    for (let r = 0; performance.now() < end; r++) {
      const model = (i + r) % 2 ? "a" : "b";
      const t = performance.now();
      try {
        const s = await c.chat.completions.create({
          model,
          messages: user(`client ${i} round ${r}`),
          max_tokens: o.tokens,
          stream: true,
        });
        for await (const _ of s) { /* read to the end */ }
        completed++;
        latencies.push(performance.now() - t);
      } catch (e) {
        const status = e instanceof OpenAI.APIError ? String(e.status ?? "stream") : "network";
        errors.set(status, (errors.get(status) ?? 0) + 1);
        await new Promise((res) => setTimeout(res, 100));
      }
    }
  }));
  const seconds = (performance.now() - t0) / 1000;
  const m = await f.metrics();
  return {
    completed,
    errors,
    latencies,
    swaps: metricValue(m, "cortex_swaps_total"),
    seconds,
    waitP50: histogramQuantile(m, "cortex_queue_wait_seconds", 0.5),
    waitP95: histogramQuantile(m, "cortex_queue_wait_seconds", 0.95),
  };
}

/**
 * A quantile of a Prometheus histogram (all label sets summed), interpolated within its
 * bucket as `histogram_quantile` does; null without observations.
 */
export function histogramQuantile(text: string, family: string, q: number): number | null {
  const buckets = new Map<number, number>();
  for (const line of text.split("\n")) {
    const m = new RegExp(`^${family}_bucket\\{(.*)\\}\\s+(\\S+)$`).exec(line);
    if (!m) continue;
    const le = /le="([^"]+)"/.exec(m[1])?.[1];
    if (le === undefined) continue;
    const bound = le === "+Inf" ? Infinity : Number(le);
    buckets.set(bound, (buckets.get(bound) ?? 0) + Number(m[2]));
  }
  const sorted = [...buckets].sort((a, b) => a[0] - b[0]);
  const total = sorted.at(-1)?.[1] ?? 0;
  if (!total) return null;
  const rank = q * total;
  let prevBound = 0;
  let prevCount = 0;
  for (const [bound, count] of sorted) {
    if (count >= rank) {
      if (bound === Infinity) return prevBound;
      const inBucket = count - prevCount;
      return prevBound + (bound - prevBound) * (inBucket ? (rank - prevCount) / inBucket : 1);
    }
    prevBound = bound;
    prevCount = count;
  }
  return prevBound;
}

function pct(xs: number[], q: number): number | null {
  if (!xs.length) return null;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))];
}

const fmt = (v: number | null, unit = "", digits = 2) =>
  v === null ? "–" : `${v.toFixed(digits)}${unit}`;

function table(o: Options, on: RunResult, off: RunResult): string {
  const errs = (r: RunResult) =>
    r.errors.size ? [...r.errors].map(([s, n]) => `${n} × ${s}`).join(", ") : "0";
  const rows: [string, string, string][] = [
    ["completed requests", String(on.completed), String(off.completed)],
    ["errors", errs(on), errs(off)],
    ["queue wait p50", fmt(on.waitP50, " s"), "–"],
    ["queue wait p95", fmt(on.waitP95, " s"), "–"],
    [
      "request latency p50",
      fmt(pct(on.latencies, 0.5), " ms", 0),
      fmt(pct(off.latencies, 0.5), " ms", 0),
    ],
    [
      "request latency p95",
      fmt(pct(on.latencies, 0.95), " ms", 0),
      fmt(pct(off.latencies, 0.95), " ms", 0),
    ],
    ["swaps", String(on.swaps), String(off.swaps)],
    [
      "swaps per minute",
      fmt(on.swaps / on.seconds * 60, "", 1),
      fmt(off.swaps / off.seconds * 60, "", 1),
    ],
  ];
  const head =
    `| ${o.clients} clients, ${o.seconds} s, ${o.tokens} tokens | queue on | queue off |`;
  return [head, "| --- | --- | --- |", ...rows.map((r) => `| ${r.join(" | ")} |`)].join("\n");
}

export async function main(args: string[]): Promise<number> {
  const o = parse(args);
  if (typeof o === "string") {
    console.error(o);
    return 2;
  }
  progress(`queue on: ${o.clients} clients for ${o.seconds} s`);
  const on = await run(true, o);
  progress(`queue off: ${o.clients} clients for ${o.seconds} s`);
  const off = await run(false, o);
  console.log(table(o, on, off));
  return 0;
}

if (import.meta.main) Deno.exit(await main(Deno.args));
