import assert from "node:assert/strict";
import { HttpError } from "../../core/errors.ts";
import {
  PullErrorEventSchema,
  PullProgressSchema,
  PullResultSchema,
} from "../../core/neuron/pull.ts";
import { createSseParserStream, type SseMessage } from "../../core/sse.ts";
import { FakeHub, randomBytes, sha256Hex } from "../../tests/helpers/fake_hub.ts";
import { pullModel } from "./pull.ts";

async function withStore(
  fn: (host: { settings: { modelDirs: string[] } }, dir: string) => Promise<void>,
) {
  const dir = await Deno.makeTempDir({ prefix: "cortex-pull-api-" });
  try {
    await fn({ settings: { modelDirs: [dir] } }, dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

async function events(res: Response): Promise<Array<{ event: string; data: unknown }>> {
  const out: Array<{ event: string; data: unknown }> = [];
  const messages = res.body!.pipeThrough(createSseParserStream());
  for await (const m of messages as AsyncIterable<SseMessage>) {
    if (m.type === "event") out.push({ event: m.event ?? "message", data: JSON.parse(m.data) });
  }
  return out;
}

async function rejection(p: Promise<unknown>): Promise<HttpError> {
  const e = await p.then(() => null, (e) => e);
  assert.ok(e instanceof HttpError, `expected an HttpError, got ${e}`);
  return e;
}

Deno.test("pullModel refuses bad bodies with a 400 naming source", async () => {
  await withStore(async (host) => {
    const env = () => undefined;
    const cases: Array<[unknown, RegExp]> = [
      [{}, /^source: is required/],
      [{ source: "models/m.gguf" }, /^source: "models\/m\.gguf" is a store path/],
      [{ source: "hf:org/repo/../x.gguf" }, /^source: .*"\.\." segment/],
      [{ source: "hf:org/repo" }, /^source: .*without a file or :QUANT/],
      [{ source: "hf:o/r:Q4_0", extra: 1 }, /extra/],
    ];
    for (const [body, re] of cases) {
      const e = await rejection(pullModel(host, body, { env }));
      assert.equal(e.status, 400, JSON.stringify(body));
      assert.match(e.message, re);
    }
  });
});

Deno.test("pullModel answers the result as JSON, then already:true", async () => {
  const data = randomBytes(200_000);
  const hub = FakeHub.start({ repos: { "o/r": [{ path: "r-Q4_0.gguf", data }] } });
  try {
    await withStore(async (host, dir) => {
      const env = (n: string) => ({ HF_ENDPOINT: hub.url } as Record<string, string>)[n];
      const res = await pullModel(host, { source: "hf:o/r:Q4_0" }, { env });
      assert.equal(res.status, 200);
      const body = PullResultSchema.parse(await res.json());
      assert.deepEqual(
        { ...body, files: undefined },
        {
          model: "r/r-Q4_0",
          path_relative: "r/r-Q4_0.gguf",
          size_bytes: 200_000,
          sha256: sha256Hex(data),
          files: undefined,
          already: false,
        },
      );
      assert.equal(sha256Hex(await Deno.readFile(`${dir}/r/r-Q4_0.gguf`)), sha256Hex(data));
      const again = PullResultSchema.parse(
        await (await pullModel(host, { source: "hf:o/r/r-Q4_0.gguf" }, { env })).json(),
      );
      assert.equal(again.already, true);
      assert.equal(again.model, "r/r-Q4_0");
    });
  } finally {
    await hub.close();
  }
});

Deno.test("pullModel honours HF_ENDPOINT and HF_TOKEN from the process environment", async () => {
  const data = randomBytes(10_000);
  const hub = FakeHub.start({ repos: { "o/r": [{ path: "m.gguf", data }] }, token: "hf_env" });
  const saved = { e: Deno.env.get("HF_ENDPOINT"), t: Deno.env.get("HF_TOKEN") };
  Deno.env.set("HF_ENDPOINT", hub.url + "/");
  Deno.env.set("HF_TOKEN", "hf_env");
  try {
    await withStore(async (host) => {
      const res = await pullModel(host, { source: "hf:o/r/m.gguf" });
      assert.equal(PullResultSchema.parse(await res.json()).sha256, sha256Hex(data));
      assert.ok(
        hub.seen("/api/models/o/r/tree/main").length > 0,
        "the listing went to HF_ENDPOINT",
      );
      assert.ok(
        hub.seen("/o/r/resolve/main/m.gguf").every((q) => q.authorization === "Bearer hf_env"),
      );
    });
  } finally {
    for (const [k, v] of [["HF_ENDPOINT", saved.e], ["HF_TOKEN", saved.t]] as const) {
      if (v === undefined) Deno.env.delete(k);
      else Deno.env.set(k, v);
    }
    await hub.close();
  }
});

Deno.test("pullModel maps hub failures: 404 for a missing file, 400 for an ambiguous quant", async () => {
  const hub = FakeHub.start({
    repos: {
      "o/r": [{ path: "a-Q4_0.gguf", data: randomBytes(10) }, {
        path: "b-Q4_0.gguf",
        data: randomBytes(10),
      }],
    },
  });
  try {
    await withStore(async (host) => {
      const env = (n: string) => (n === "HF_ENDPOINT" ? hub.url : undefined);
      const missing = await rejection(pullModel(host, { source: "hf:o/r/c.gguf" }, { env }));
      assert.equal(missing.status, 404);
      assert.equal(missing.param, "source");
      const amb = await rejection(pullModel(host, { source: "hf:o/r:Q4_0" }, { env }));
      assert.equal(amb.status, 400);
      assert.equal(amb.code, "ambiguous_source");
      assert.match(amb.message, /a-Q4_0\.gguf, b-Q4_0\.gguf/);
    });
  } finally {
    await hub.close();
  }
});

Deno.test("pullModel streams monotonic progress then done", async () => {
  const data = randomBytes(2 << 20);
  const hub = FakeHub.start({ repos: { "o/r": [{ path: "m.gguf", data }] } });
  try {
    await withStore(async (host) => {
      const env = (n: string) => (n === "HF_ENDPOINT" ? hub.url : undefined);
      const res = await pullModel(host, { source: "hf:o/r/m.gguf", stream: true }, {
        env,
        progressIntervalMs: 0,
      });
      assert.equal(res.headers.get("content-type"), "text/event-stream");
      const evs = await events(res);
      const progress = evs.filter((e) => e.event === "progress").map((e) =>
        PullProgressSchema.parse(e.data)
      );
      assert.ok(progress.length >= 2);
      for (let i = 1; i < progress.length; i++) {
        assert.ok(progress[i].bytes >= progress[i - 1].bytes);
      }
      assert.equal(progress.at(-1)!.bytes, 2 << 20);
      assert.ok(progress.every((p) => p.total === 2 << 20));
      assert.equal(evs.at(-1)!.event, "done");
      assert.equal(PullResultSchema.parse(evs.at(-1)!.data).sha256, sha256Hex(data));
      assert.equal(evs.filter((e) => e.event === "done" || e.event === "error").length, 1);
    });
  } finally {
    await hub.close();
  }
});

Deno.test("pullModel streams an error event when the checksum does not match", async () => {
  const hub = FakeHub.start({ repos: { "o/r": [{ path: "m.gguf", data: randomBytes(100_000) }] } });
  hub.corrupt("o/r", "m.gguf");
  try {
    await withStore(async (host, dir) => {
      const env = (n: string) => (n === "HF_ENDPOINT" ? hub.url : undefined);
      const evs = await events(
        await pullModel(host, { source: "hf:o/r/m.gguf", stream: true }, { env }),
      );
      const last = evs.at(-1)!;
      assert.equal(last.event, "error");
      const err = PullErrorEventSchema.parse(last.data);
      assert.equal(err.status, 502);
      assert.equal(err.error.code, "checksum_mismatch");
      assert.deepEqual([...Deno.readDirSync(`${dir}/r`)], []);
    });
  } finally {
    await hub.close();
  }
});

Deno.test("a streamed pull stops when its client goes away and keeps the partial", async () => {
  const hub = FakeHub.start({ repos: { "o/r": [{ path: "m.gguf", data: randomBytes(2 << 20) }] } });
  hub.stallOnce("o/r", "m.gguf", 1 << 20);
  try {
    await withStore(async (host, dir) => {
      const env = (n: string) => (n === "HF_ENDPOINT" ? hub.url : undefined);
      const res = await pullModel(host, { source: "hf:o/r/m.gguf", stream: true }, {
        env,
        progressIntervalMs: 0,
      });
      const reader = res.body!.getReader();
      const dec = new TextDecoder();
      let text = "";
      while (!text.includes(`"bytes":${1 << 20}`)) {
        const { value, done } = await reader.read();
        assert.ok(!done, "stream ended before the stall");
        text += dec.decode(value);
      }
      await reader.cancel();
      const partial = `${dir}/r/m.gguf.partial`;
      // The transfer is torn down: the CDN connection closes and the partial keeps its bytes.
      for (let i = 0; i < 100; i++) {
        await new Promise((r) => setTimeout(r, 10));
        if ((await Deno.stat(partial)).size === 1 << 20 && !hub.stalledCount()) break;
      }
      assert.equal(hub.stalledCount(), 0, "the stalled transfer was abandoned");
      assert.equal((await Deno.stat(partial)).size, 1 << 20);
    });
  } finally {
    await hub.close();
  }
});
