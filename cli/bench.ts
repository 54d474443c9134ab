/**
 * `cortex bench`: a load generator for any OpenAI-compatible endpoint (the
 * gateway or a neuron). `--concurrency` workers send chat completions back
 * to back for `--duration` or until `--requests` were sent, and the run is
 * summarised as requests/s, time to first token, inter-token latency,
 * end-to-end latency and tokens/s. Timing uses plain fetch and our SSE
 * parser so nothing sits between the wire and the clock; completion tokens
 * come from the final usage chunk (`stream_options.include_usage`).
 */

import { createSseParserStream } from "../core/sse.ts";
import { type Distribution, distribution } from "./bench_stats.ts";
import { CliError } from "./cli_error.ts";
import { errorMessageOf } from "./client.ts";
import { formatMs, formatNumber, formatSeconds } from "./format.ts";
import { type GlobalOptions, normalizeBaseUrl } from "./options.ts";
import { renderTable } from "./table.ts";

export interface BenchOptions {
  /** Server base URL (`/v1/chat/completions` is appended). */
  url: string;
  apiKey?: string;
  model: string;
  concurrency: number;
  /** Stop sending new requests after this long (ms); null = no time limit. */
  durationMs: number | null;
  /** Send at most this many requests; null = no count limit. */
  requests: number | null;
  /** Approximate prompt size in tokens. */
  promptTokens: number;
  maxTokens: number;
  /** Sampling temperature; unset = the server's default. */
  temperature?: number;
  stream: boolean;
  /** Longest one request may take (ms). */
  timeoutMs: number;
}

/** What one request measured. Times are ms. */
export interface RequestSample {
  ok: boolean;
  /** Stopped by the operator (Ctrl-C): neither a success nor an error. */
  cancelled: boolean;
  error: string | null;
  latencyMs: number;
  /** Time to the first generated text (streamed requests only). */
  ttftMs: number | null;
  /** Time between successive chunks that carried generated text. */
  gapsMs: number[];
  /** Time from the first to the last generated text. */
  decodeMs: number | null;
  promptTokens: number | null;
  completionTokens: number;
  /** False when the server sent no usage and tokens were counted from chunks. */
  usageReported: boolean;
}

export interface BenchReport {
  url: string;
  model: string;
  settings: {
    concurrency: number;
    stream: boolean;
    prompt_tokens: number;
    max_tokens: number;
    duration_s: number | null;
    requests: number | null;
  };
  wall_s: number;
  requests: { sent: number; ok: number; failed: number; cancelled: number };
  requests_per_second: number;
  ttft_ms: Distribution;
  inter_token_ms: Distribution;
  latency_ms: Distribution;
  tokens: { prompt: number; completion: number; usage_reported: boolean };
  tokens_per_second: { aggregate: number; per_request: Distribution };
  errors: { message: string; count: number }[];
}

const WORDS = (
  "the of and to in is was for on are with as his they be at one have this from or had by " +
  "word but what some we can out other were all there when up use your how said an each she " +
  "which do their time if will way about many then them write would like so these her long " +
  "make thing see him two has look more day could go come did number sound no most people"
).split(" ");

/**
 * A prompt of about `tokens` tokens: a numbered opening (so no two requests
 * share a long prefix the server could reuse) and common words, which most
 * tokenizers encode as one token each.
 */
export function benchPrompt(index: number, tokens: number): string {
  let x = (index + 1) * 2654435761 >>> 0;
  const words: string[] = [];
  for (let i = 0; i < Math.max(1, tokens - 6); i++) {
    x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
    words.push(WORDS[x % WORDS.length]);
  }
  return `Request ${index + 1}: ${words.join(" ")}`;
}

interface Chunk {
  choices?: { delta?: Record<string, unknown>; finish_reason?: string | null }[];
  usage?: { prompt_tokens?: number; completion_tokens?: number } | null;
  error?: unknown;
}

function carriesText(delta: Record<string, unknown> | undefined): boolean {
  if (!delta) return false;
  for (const k of ["content", "reasoning_content", "reasoning"]) {
    const v = delta[k];
    if (typeof v === "string" && v.length) return true;
  }
  return Array.isArray(delta.tool_calls) && delta.tool_calls.length > 0;
}

async function httpFailure(res: Response): Promise<string> {
  const text = await res.text().catch(() => "");
  let msg: string | null;
  try {
    msg = errorMessageOf(JSON.parse(text));
  } catch {
    msg = text.trim().slice(0, 200) || null;
  }
  return `HTTP ${res.status}${msg ? `: ${msg}` : ""}`;
}

/** Sends one chat completion and times it. Never throws. */
export async function benchRequest(
  opts: BenchOptions,
  index: number,
  stop: AbortSignal,
  now: () => number = () => performance.now(),
): Promise<RequestSample> {
  const sample: RequestSample = {
    ok: false,
    cancelled: false,
    error: null,
    latencyMs: 0,
    ttftMs: null,
    gapsMs: [],
    decodeMs: null,
    promptTokens: null,
    completionTokens: 0,
    usageReported: false,
  };
  const body = {
    model: opts.model,
    messages: [{ role: "user", content: benchPrompt(index, opts.promptTokens) }],
    max_tokens: opts.maxTokens,
    ...(opts.temperature !== undefined ? { temperature: opts.temperature } : {}),
    stream: opts.stream,
    ...(opts.stream ? { stream_options: { include_usage: true } } : {}),
  };
  const t0 = now();
  const signal = AbortSignal.any([stop, AbortSignal.timeout(opts.timeoutMs)]);
  try {
    const res = await fetch(`${normalizeBaseUrl(opts.url)}/v1/chat/completions`, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        ...(opts.apiKey ? { authorization: `Bearer ${opts.apiKey}` } : {}),
      },
      body: JSON.stringify(body),
      signal,
    });
    if (!res.ok) {
      sample.error = await httpFailure(res);
    } else if (!opts.stream) {
      const json = await res.json() as Chunk;
      sample.promptTokens = json.usage?.prompt_tokens ?? null;
      sample.completionTokens = json.usage?.completion_tokens ?? 0;
      sample.usageReported = typeof json.usage?.completion_tokens === "number";
      sample.ok = true;
    } else {
      await readStream(res, sample, t0, now);
    }
  } catch (e) {
    if (stop.aborted) sample.cancelled = true;
    else if ((e as Error).name === "TimeoutError") {
      sample.error = `no answer within ${formatSeconds(opts.timeoutMs / 1000)}`;
    } else sample.error = (e as Error).message;
    sample.ok = false;
  }
  sample.latencyMs = now() - t0;
  return sample;
}

async function readStream(res: Response, s: RequestSample, t0: number, now: () => number) {
  if (!res.body) throw new Error("the answer has no body");
  let first: number | null = null;
  let last = 0;
  let textChunks = 0;
  let finished = false;
  for await (const m of res.body.pipeThrough(createSseParserStream())) {
    if (m.type === "done") {
      finished = true;
      break;
    }
    const t = now();
    let chunk: Chunk;
    try {
      chunk = JSON.parse(m.data);
    } catch {
      throw new Error(`a stream event that is not JSON: ${m.data.slice(0, 100)}`);
    }
    if (chunk.error !== undefined) {
      throw new Error(`error in stream: ${errorMessageOf(chunk) ?? JSON.stringify(chunk.error)}`);
    }
    if (chunk.usage) {
      s.promptTokens = chunk.usage.prompt_tokens ?? null;
      if (typeof chunk.usage.completion_tokens === "number") {
        s.completionTokens = chunk.usage.completion_tokens;
        s.usageReported = true;
      }
    }
    for (const c of chunk.choices ?? []) {
      if (c.finish_reason) finished = true;
      if (!carriesText(c.delta)) continue;
      textChunks++;
      if (first === null) {
        first = t;
        s.ttftMs = t - t0;
      } else s.gapsMs.push(t - last);
      last = t;
    }
  }
  if (!finished) throw new Error("the stream ended before the answer did");
  if (!s.usageReported) s.completionTokens = textChunks;
  if (first !== null) s.decodeMs = last - first;
  s.ok = true;
}

/** Runs the load and summarises it. `stop` ends it early (in-flight requests are cancelled). */
export async function runBench(
  opts: BenchOptions,
  stop: AbortSignal = new AbortController().signal,
  now: () => number = () => performance.now(),
  onSample?: (s: RequestSample) => void,
): Promise<BenchReport> {
  const samples: RequestSample[] = [];
  const t0 = now();
  const deadline = opts.durationMs === null ? Infinity : t0 + opts.durationMs;
  const limit = opts.requests ?? Infinity;
  let next = 0;
  const worker = async () => {
    while (!stop.aborted && next < limit && now() < deadline) {
      const sample = await benchRequest(opts, next++, stop, now);
      samples.push(sample);
      onSample?.(sample);
    }
  };
  await Promise.all(Array.from({ length: opts.concurrency }, worker));
  return summarize(opts, samples, (now() - t0) / 1000);
}

/**
 * Fewest completion tokens a request needs to count in the per-request speed: over one or
 * two tokens the "speed" is a chunk gap, and read 28,000-73,000 tok/s.
 */
export const MIN_SPEED_TOKENS = 8;

/**
 * Per-request generation speed: tokens after the first over the time after the first when
 * streamed, else all tokens over the latency; null under MIN_SPEED_TOKENS tokens.
 */
export function requestSpeed(s: RequestSample): number | null {
  if (s.completionTokens < MIN_SPEED_TOKENS) return null;
  if (s.decodeMs !== null) {
    return s.decodeMs > 0 ? (s.completionTokens - 1) / (s.decodeMs / 1000) : null;
  }
  return s.latencyMs > 0 ? s.completionTokens / (s.latencyMs / 1000) : null;
}

export function summarize(
  opts: BenchOptions,
  samples: RequestSample[],
  wallS: number,
): BenchReport {
  const ok = samples.filter((s) => s.ok);
  const errors = new Map<string, number>();
  for (const s of samples) {
    if (s.error !== null) errors.set(s.error, (errors.get(s.error) ?? 0) + 1);
  }
  const completion = ok.reduce((a, s) => a + s.completionTokens, 0);
  const speeds = ok.map(requestSpeed).filter((x): x is number => x !== null);
  return {
    url: normalizeBaseUrl(opts.url),
    model: opts.model,
    settings: {
      concurrency: opts.concurrency,
      stream: opts.stream,
      prompt_tokens: opts.promptTokens,
      max_tokens: opts.maxTokens,
      duration_s: opts.durationMs === null ? null : opts.durationMs / 1000,
      requests: opts.requests,
    },
    wall_s: wallS,
    requests: {
      sent: samples.length,
      ok: ok.length,
      failed: samples.filter((s) => s.error !== null).length,
      cancelled: samples.filter((s) => s.cancelled).length,
    },
    requests_per_second: wallS > 0 ? ok.length / wallS : 0,
    ttft_ms: distribution(ok.flatMap((s) => s.ttftMs === null ? [] : [s.ttftMs])),
    inter_token_ms: distribution(ok.flatMap((s) => s.gapsMs)),
    latency_ms: distribution(ok.map((s) => s.latencyMs)),
    tokens: {
      prompt: ok.reduce((a, s) => a + (s.promptTokens ?? 0), 0),
      completion,
      usage_reported: ok.every((s) => s.usageReported),
    },
    tokens_per_second: {
      aggregate: wallS > 0 ? completion / wallS : 0,
      per_request: distribution(speeds),
    },
    errors: [...errors].map(([message, count]) => ({ message, count }))
      .sort((a, b) => b.count - a.count),
  };
}

export function renderBench(r: BenchReport): string {
  const s = r.settings;
  const limits = [
    s.requests !== null ? `${s.requests} requests` : null,
    s.duration_s !== null ? `${formatSeconds(s.duration_s)}` : null,
  ].filter(Boolean).join(" or ");
  const lines = [
    `bench ${r.model} at ${r.url}: ${s.concurrency} concurrent, ${
      s.stream ? "streamed" : "not streamed"
    }, ~${s.prompt_tokens} prompt tokens, max ${s.max_tokens} new, ${limits}`,
    `requests  ${r.requests.ok} ok, ${r.requests.failed} failed${
      r.requests.cancelled ? `, ${r.requests.cancelled} cancelled` : ""
    } in ${formatSeconds(r.wall_s)} (${formatNumber(r.requests_per_second, 2)} req/s)`,
    `tokens    ${r.tokens.prompt} prompt, ${r.tokens.completion} completion${
      r.tokens.usage_reported ? "" : " (some counted from chunks: no usage reported)"
    }; ${formatNumber(r.tokens_per_second.aggregate)} tok/s aggregate`,
    "",
  ];
  const row = (name: string, d: Distribution, fmt: (n: number | null) => string) => [
    name,
    fmt(d.p50),
    fmt(d.p95),
    fmt(d.p99),
    fmt(d.mean),
    fmt(d.max),
  ];
  const rows = [];
  if (s.stream) {
    rows.push(row("time to first token", r.ttft_ms, formatMs));
    rows.push(row("inter-token latency", r.inter_token_ms, formatMs));
  }
  rows.push(row("latency", r.latency_ms, formatMs));
  rows.push(
    row(
      `tok/s per request (≥ ${MIN_SPEED_TOKENS} tokens)`,
      r.tokens_per_second.per_request,
      (n) => formatNumber(n),
    ),
  );
  lines.push(renderTable(["", "p50", "p95", "p99", "mean", "max"], rows));
  if (r.errors.length) {
    lines.push("", "errors");
    for (const e of r.errors) lines.push(`  ${e.count} × ${e.message}`);
  }
  return lines.join("\n");
}

export interface BenchCommandOptions {
  model: string;
  concurrency: number;
  duration?: number;
  requests?: number;
  promptTokens: number;
  maxTokens: number;
  temperature?: number;
  stream: boolean;
  timeout: number;
  json?: boolean;
}

export async function benchCommand(globals: GlobalOptions, o: BenchCommandOptions): Promise<void> {
  const opts: BenchOptions = {
    url: normalizeBaseUrl(globals.url),
    apiKey: globals.apiKey,
    model: o.model,
    concurrency: o.concurrency,
    // With neither limit, a short timed run.
    durationMs: o.duration ?? (o.requests === undefined ? 10_000 : null),
    requests: o.requests ?? null,
    promptTokens: o.promptTokens,
    maxTokens: o.maxTokens,
    temperature: o.temperature,
    stream: o.stream,
    timeoutMs: o.timeout,
  };
  // Ctrl-C ends the run early and still reports what finished.
  const stop = new AbortController();
  const onSignal = () => stop.abort();
  Deno.addSignalListener("SIGINT", onSignal);
  const live = Deno.stderr.isTerminal() ? liveProgress() : null;
  let report: BenchReport;
  try {
    report = await runBench(opts, stop.signal, undefined, live?.sample);
  } finally {
    live?.stop();
    Deno.removeSignalListener("SIGINT", onSignal);
  }
  console.log(o.json ? JSON.stringify(report, null, 2) : renderBench(report));
  if (report.requests.ok === 0 && report.requests.sent > 0 && report.requests.failed > 0) {
    throw new CliError(`every request failed; first error: ${report.errors[0].message}`);
  }
}

/** One line on the terminal (stderr), redrawn each second: requests done, req/s, errors. */
function liveProgress() {
  const enc = new TextEncoder();
  const t0 = performance.now();
  let done = 0;
  let errors = 0;
  let lastDone = 0;
  const draw = () => {
    const rate = done - lastDone;
    lastDone = done;
    const s = ((performance.now() - t0) / 1000).toFixed(0);
    Deno.stderr.writeSync(
      enc.encode(`\r\x1b[2Kbench: ${s} s, ${done} done, ${rate} req/s now, ${errors} errors`),
    );
  };
  const timer = setInterval(draw, 1000);
  return {
    sample(x: RequestSample) {
      done++;
      if (x.error !== null) errors++;
    },
    stop() {
      clearInterval(timer);
      draw();
      Deno.stderr.writeSync(enc.encode("\n"));
    },
  };
}
