import { assert, assertEquals, assertMatch } from "../tests/assert.ts";
import {
  type BenchOptions,
  benchPrompt,
  MIN_SPEED_TOKENS,
  renderBench,
  requestSpeed,
  runBench,
} from "./bench.ts";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface FakeOptions {
  /** Delay before the first text chunk, then between text chunks (ms). */
  firstMs: number;
  gapMs: number;
  texts: string[];
  usage?: boolean;
  /** Requests with these 1-based numbers get a 503. */
  failing?: number[];
  /** End the stream without a finish_reason or [DONE]. */
  truncate?: boolean;
}

/** An OpenAI-compatible chat endpoint with scripted timing. */
function fakeOpenAI(f: FakeOptions) {
  const bodies: Record<string, unknown>[] = [];
  const enc = new TextEncoder();
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (req) => {
    const body = await req.json();
    bodies.push(body);
    if (f.failing?.includes(bodies.length)) {
      return Response.json({ error: { message: "no capacity" } }, { status: 503 });
    }
    if (!body.stream) {
      await sleep(f.firstMs);
      return Response.json({
        choices: [{ message: { content: f.texts.join("") }, finish_reason: "stop" }],
        usage: { prompt_tokens: 10, completion_tokens: f.texts.length },
      });
    }
    const stream = new ReadableStream<Uint8Array>({
      async start(c) {
        const send = (x: unknown) => c.enqueue(enc.encode(`data: ${JSON.stringify(x)}\n\n`));
        send({ choices: [{ delta: { role: "assistant" } }] }); // no text: not a token
        for (let i = 0; i < f.texts.length; i++) {
          await sleep(i === 0 ? f.firstMs : f.gapMs);
          send({ choices: [{ delta: { content: f.texts[i] }, finish_reason: null }] });
        }
        if (!f.truncate) {
          send({ choices: [{ delta: {}, finish_reason: "length" }] });
          if (f.usage !== false) {
            send({ choices: [], usage: { prompt_tokens: 10, completion_tokens: f.texts.length } });
          }
          c.enqueue(enc.encode("data: [DONE]\n\n"));
        }
        c.close();
      },
    });
    return new Response(stream, { headers: { "content-type": "text/event-stream" } });
  });
  return {
    url: `http://127.0.0.1:${server.addr.port}`,
    bodies,
    close: () => server.shutdown(),
  };
}

function options(url: string, o: Partial<BenchOptions> = {}): BenchOptions {
  return {
    url,
    model: "m",
    concurrency: 2,
    durationMs: null,
    requests: 4,
    promptTokens: 32,
    maxTokens: 8,
    stream: true,
    timeoutMs: 10_000,
    ...o,
  };
}

Deno.test("bench times first token and gaps, and counts tokens from usage", async () => {
  const fake = fakeOpenAI({ firstMs: 60, gapMs: 30, texts: ["a", "b", "c", "d"] });
  try {
    const r = await runBench(options(fake.url, { apiKey: undefined }));
    assertEquals(r.requests, { sent: 4, ok: 4, failed: 0, cancelled: 0 });
    assertEquals(r.tokens, { prompt: 40, completion: 16, usage_reported: true });
    assertEquals(r.ttft_ms.count, 4);
    assertEquals(r.inter_token_ms.count, 12); // 3 gaps per request
    assert(r.ttft_ms.p50! >= 55 && r.ttft_ms.p50! < 1000, `ttft ${r.ttft_ms.p50}`);
    assert(
      r.inter_token_ms.p50! >= 25 && r.inter_token_ms.p50! < 1000,
      `itl ${r.inter_token_ms.p50}`,
    );
    assert(r.latency_ms.p50! >= 60 + 3 * 30 - 5, `latency ${r.latency_ms.p50}`);
    // Four tokens a request are too few for a per-request speed (MIN_SPEED_TOKENS).
    assertEquals(r.tokens_per_second.per_request.count, 0);
    assert(Math.abs(r.tokens_per_second.aggregate - 16 / r.wall_s) < 1e-9);
    assert(Math.abs(r.requests_per_second - 4 / r.wall_s) < 1e-9);
    // What went over the wire.
    assertEquals(fake.bodies.length, 4);
    const b = fake.bodies[0] as Record<string, unknown>;
    assertEquals(b.model, "m");
    assertEquals(b.max_tokens, 8);
    assertEquals(b.stream_options, { include_usage: true });
    assertEquals("temperature" in b, false, "the server's default unless asked");
    const prompts = fake.bodies.map((x) => (x.messages as { content: string }[])[0].content);
    assertEquals(new Set(prompts).size, 4, "every request opens differently");
    const text = renderBench(r);
    assertMatch(text, /requests\s+4 ok, 0 failed/);
    assertMatch(text, /time to first token/);
  } finally {
    await fake.close();
  }
});

Deno.test("bench counts and groups errors, and keeps going", async () => {
  const fake = fakeOpenAI({ firstMs: 1, gapMs: 1, texts: ["x"], failing: [2, 3] });
  try {
    const r = await runBench(options(fake.url, { concurrency: 1, requests: 5 }));
    assertEquals(r.requests, { sent: 5, ok: 3, failed: 2, cancelled: 0 });
    assertEquals(r.errors, [{ message: "HTTP 503: no capacity", count: 2 }]);
    assertEquals(r.tokens.completion, 3);
    assertMatch(renderBench(r), /2 × HTTP 503: no capacity/);
  } finally {
    await fake.close();
  }
});

Deno.test("bench without usage counts text chunks and says so; a cut stream is an error", async () => {
  const noUsage = fakeOpenAI({ firstMs: 1, gapMs: 1, texts: ["x", "y"], usage: false });
  const cut = fakeOpenAI({ firstMs: 1, gapMs: 1, texts: ["x"], truncate: true });
  try {
    const r = await runBench(options(noUsage.url, { requests: 2 }));
    assertEquals(r.tokens, { prompt: 0, completion: 4, usage_reported: false });
    assertMatch(renderBench(r), /counted from chunks/);
    const c = await runBench(options(cut.url, { requests: 1, concurrency: 1 }));
    assertEquals(c.requests.failed, 1);
    assertEquals(c.errors[0].message, "the stream ended before the answer did");
  } finally {
    await noUsage.close();
    await cut.close();
  }
});

Deno.test("bench --no-stream takes usage from the JSON answer", async () => {
  const fake = fakeOpenAI({ firstMs: 20, gapMs: 0, texts: ["a", "b", "c"] });
  try {
    const r = await runBench(options(fake.url, { stream: false, requests: 2, temperature: 0 }));
    assertEquals(r.requests.ok, 2);
    assertEquals(r.tokens.completion, 6);
    assertEquals(r.ttft_ms.count, 0);
    assertEquals(fake.bodies[0].stream, false);
    assertEquals(fake.bodies[0].temperature, 0);
    assertEquals("stream_options" in fake.bodies[0], false);
    assert(r.latency_ms.p50! >= 15);
    assert(!/time to first token/.test(renderBench(r)));
  } finally {
    await fake.close();
  }
});

Deno.test("bench --duration stops sending when time is up; stop cancels in flight", async () => {
  const fake = fakeOpenAI({ firstMs: 40, gapMs: 1, texts: ["a"] });
  try {
    const r = await runBench(
      options(fake.url, { requests: null, durationMs: 150, concurrency: 1 }),
    );
    assert(r.requests.sent >= 1 && r.requests.sent <= 5, `sent ${r.requests.sent}`);
    assertEquals(r.requests.failed, 0);
    const stop = new AbortController();
    setTimeout(() => stop.abort(), 20);
    const c = await runBench(options(fake.url, { requests: 10, concurrency: 2 }), stop.signal);
    assertEquals(c.requests, { sent: 2, ok: 0, failed: 0, cancelled: 2 });
  } finally {
    await fake.close();
  }
});

Deno.test("benchPrompt has about the asked number of words and a numbered opening", () => {
  const p = benchPrompt(0, 100);
  assert(p.startsWith("Request 1: "));
  const words = p.split(" ").length;
  assert(words >= 90 && words <= 100, `${words} words`);
  assert(benchPrompt(1, 100) !== p);
  assertEquals(benchPrompt(1, 100), benchPrompt(1, 100));
});

Deno.test("requestSpeed: tokens after the first over the time after it; none for a few tokens", () => {
  const sample = (completionTokens: number, decodeMs: number | null, latencyMs = 1000) => ({
    ok: true,
    cancelled: false,
    error: null,
    latencyMs,
    ttftMs: decodeMs === null ? null : 100,
    gapsMs: [],
    decodeMs,
    promptTokens: 10,
    completionTokens,
    usageReported: true,
  });
  assertEquals(requestSpeed(sample(11, 500)), 20);
  assertEquals(requestSpeed(sample(MIN_SPEED_TOKENS - 1, 0.05)), null, "a gap is not a speed");
  assertEquals(requestSpeed(sample(20, null, 2000)), 10, "not streamed: over the latency");
});
