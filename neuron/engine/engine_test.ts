/**
 * The engine on real llama.cpp (through FFI, in a device worker) with the
 * generated fixture models.
 */

import { assert, assertEquals, assertRejects } from "../../tests/assert.ts";
import { ensureFixture, FIXTURES } from "../../tests/fixtures/mod.ts";
import { Engine } from "./engine.ts";
import type { EngineEvent, GenerateParams, LoadOptions } from "./types.ts";

const OPTS: LoadOptions = { context: 512, slots: 4, nBatch: 128, nThreads: 1, maxQueue: 4 };

interface Collected {
  content: string;
  reasoning: string;
  deltas: { kind: string; text: string }[];
  done?: Extract<EngineEvent, { type: "done" }>;
  error?: Extract<EngineEvent, { type: "error" }>;
}

async function collect(engine: Engine, key: string, params: GenerateParams): Promise<Collected> {
  const out: Collected = { content: "", reasoning: "", deltas: [] };
  for await (const ev of engine.stream(key, params)) {
    if (ev.type === "delta") {
      for (const d of ev.deltas) {
        out.deltas.push(d);
        if (d.kind === "content") out.content += d.text;
        else out.reasoning += d.text;
      }
    } else if (ev.type === "done") out.done = ev;
    else if (ev.type === "error") out.error = ev;
  }
  return out;
}

const greedy = (prompt: string, maxTokens = 24, extra: Partial<GenerateParams> = {}) => ({
  prompt,
  maxTokens,
  sampling: { temperature: 0 },
  stop: [],
  ...extra,
});

const chat = (user: string, open = "") =>
  `<|im_start|>user\n${user}<|im_end|>\n<|im_start|>assistant\n${open}`;

async function withEngine(
  fixture: keyof typeof FIXTURES,
  opts: Partial<LoadOptions>,
  fn: (e: Engine) => Promise<void>,
) {
  const path = await ensureFixture(FIXTURES[fixture]);
  const engine = await Engine.start({ logLevel: "warn" });
  try {
    await engine.load("m", path, { ...OPTS, ...opts });
    await fn(engine);
  } finally {
    await engine.close();
  }
}

Deno.test("concurrent greedy requests match each run alone, token for token", async () => {
  await withEngine("plain", {}, async (engine) => {
    const prompts = [
      chat("hello there, how are you"),
      chat("the quick brown fox"),
      chat("tell me a story about the sea and the wind"),
      "a plain completion prompt",
    ];
    const alone: Collected[] = [];
    for (const p of prompts) alone.push(await collect(engine, "m", greedy(p, 32)));
    // Different slots now hold caches; clear them by loading fresh for a fair comparison.
    await engine.unload("m");
    await engine.load("m", await ensureFixture(FIXTURES.plain), OPTS);
    const together = await Promise.all(prompts.map((p) => collect(engine, "m", greedy(p, 32))));
    for (let i = 0; i < prompts.length; i++) {
      assertEquals(together[i].content, alone[i].content, `prompt ${i} diverged`);
      assertEquals(together[i].done?.usage.completionTokens, alone[i].done?.usage.completionTokens);
    }
    const stats = (await engine.stats())[0].models[0];
    // Four requests over fewer decode steps than tokens generated proves they were batched.
    const generated = together.reduce((n, c) => n + c.done!.usage.completionTokens, 0);
    assert(stats.decodeSteps < generated, `steps ${stats.decodeSteps} vs tokens ${generated}`);
  });
});

Deno.test("prefix reuse prefills only the new tail and gives identical output", async () => {
  await withEngine("plain", { slots: 2 }, async (engine) => {
    const base = chat("a long shared system context about tools, files and the sea. ".repeat(4));
    const follow = base + "more";
    const fresh = await collect(engine, "m", greedy(follow, 16));
    await engine.unload("m");
    await engine.load("m", await ensureFixture(FIXTURES.plain), { ...OPTS, slots: 2 });

    await collect(engine, "m", greedy(base, 8));
    const before = (await engine.stats())[0].models[0];
    const reused = await collect(engine, "m", greedy(follow, 16));
    const after = (await engine.stats())[0].models[0];
    assertEquals(reused.content, fresh.content);
    const prefilled = after.promptTokensProcessed - before.promptTokensProcessed;
    const promptLen = reused.done!.usage.promptTokens;
    assert(reused.done!.usage.cachedTokens > promptLen / 2, "most of the prompt came from cache");
    assertEquals(prefilled, promptLen - reused.done!.usage.cachedTokens);
    assert(prefilled < 10, `prefilled ${prefilled} of ${promptLen}`);
  });
});

Deno.test("cancelling mid-generation frees the slot for the next request", async () => {
  await withEngine("plain", { slots: 1, maxQueue: 2 }, async (engine) => {
    let deltas = 0;
    let done: Extract<EngineEvent, { type: "done" }> | undefined;
    const finished = new Promise<void>((resolve) => {
      const h = engine.generate("m", greedy(chat("go on forever"), 100_000), (ev) => {
        if (ev.type === "delta" && ++deltas === 5) h.cancel();
        if (ev.type === "done") {
          done = ev;
          resolve();
        }
      });
    });
    await finished;
    assertEquals(done?.finishReason, "cancelled");
    // Far short of the 100,000 asked for. The count includes what the worker made while this
    // thread was still catching up on delta messages (under load, tens of tokens), so it
    // shows the cancel took, not how fast.
    assert(done!.usage.completionTokens < 2000, `${done!.usage.completionTokens} tokens`);
    const next = await collect(engine, "m", greedy(chat("next"), 8));
    assertEquals(next.done?.finishReason, "length");
    assertEquals(next.done?.usage.completionTokens, 8);
    assertEquals((await engine.stats())[0].models[0].active, 0);
  });
});

Deno.test("stop strings split across tokens end generation and never leak", async () => {
  await withEngine("plain", {}, async (engine) => {
    const prompt = chat("say something long");
    const full = await collect(engine, "m", greedy(prompt, 40));
    // A stop string spanning the boundary of two deltas (two tokens).
    const pieces = full.deltas.map((d) => d.text);
    let offset = 0;
    let stop = "";
    for (let i = 3; i < pieces.length - 1; i++) {
      offset += pieces[i - 1].length;
      if (pieces[i].length >= 2 && pieces[i + 1].length >= 1 && !pieces[i].includes("\uFFFD")) {
        stop = pieces[i].slice(-2) + pieces[i + 1].slice(0, 1);
        break;
      }
    }
    assert(stop.length === 3, "found a boundary-spanning stop string");
    const cut = full.content.indexOf(stop);
    const stopped = await collect(engine, "m", greedy(prompt, 40, { stop: [stop] }));
    assertEquals(stopped.done?.finishReason, "stop");
    assertEquals(stopped.done?.stop, stop);
    assertEquals(stopped.content, full.content.slice(0, cut));
    assert(!stopped.content.includes(stop));
  });
});

Deno.test("multi-byte UTF-8 emitted as byte tokens comes out whole", async () => {
  await withEngine("plain", {}, async (engine) => {
    const r = await collect(
      engine,
      "m",
      greedy(chat("emoji"), 24, { sampling: { temperature: 0, grammar: 'root ::= "😀é中🎉"' } }),
    );
    assertEquals(r.content, "😀é中🎉");
    for (const d of r.deltas) assert(!d.text.includes("\uFFFD"), `broken delta ${d.text}`);
    assert(r.done!.usage.completionTokens >= 4, "the emoji needed several tokens");
  });
});

for (const fixture of ["think", "bracketThink"] as const) {
  Deno.test(`reasoning is routed by marker token (${fixture})`, async () => {
    await withEngine(fixture, {}, async (engine) => {
      const markers = (await reload(engine, fixture)).markers!;
      assert(markers, "markers found in the vocabulary");
      const grammar = `root ::= [a-z]{4,8} <[${markers.closeToken}]> " " [a-z]{4,8}`;
      const r = await collect(
        engine,
        "m",
        greedy(chat("think first", markers.open + "\n"), 24, {
          sampling: { temperature: 0, grammar },
        }),
      );
      const kinds = r.deltas.map((d) => d.kind).filter((k, i, a) => k !== a[i - 1]);
      assertEquals(kinds, ["reasoning", "content"]);
      assert(/^[a-z]{4,8}$/.test(r.reasoning), `reasoning ${JSON.stringify(r.reasoning)}`);
      assert(/^ [a-z]{4,8}$/.test(r.content), `content ${JSON.stringify(r.content)}`);
      assert(!r.content.includes(markers.close) && !r.reasoning.includes(markers.close));
      assertEquals(r.done!.usage.reasoningTokens >= 2, true);
    });
  });
}

Deno.test("a reasoning budget closes the reasoning block and the answer follows", async () => {
  await withEngine("think", {}, async (engine) => {
    const markers = (await reload(engine, "think")).markers!;
    const prompt = chat("think first", markers.open + "\n");
    // Unbudgeted, this model (random weights) thinks past the budget below.
    const free = await collect(engine, "m", greedy(prompt, 24));
    assert(free.done!.usage.reasoningTokens > 6, `free: ${free.done!.usage.reasoningTokens}`);
    const r = await collect(engine, "m", greedy(prompt, 24, { reasoningBudget: 5 }));
    const kinds = r.deltas.map((d) => d.kind).filter((k, i, a) => k !== a[i - 1]);
    assertEquals(kinds, ["reasoning", "content"]);
    // Five reasoning tokens, then the close marker put in place of the sixth sample.
    assertEquals(r.done!.usage.reasoningTokens, 6);
    assertEquals(r.reasoning, free.reasoning.slice(0, r.reasoning.length));
    assert(!r.reasoning.includes(markers.close) && !r.content.includes(markers.close));
    const none = await collect(engine, "m", greedy(prompt, 24, { reasoningBudget: 0 }));
    assertEquals([none.reasoning, none.done!.usage.reasoningTokens], ["", 1]);
  });
});

async function reload(engine: Engine, fixture: keyof typeof FIXTURES) {
  await engine.unload("m");
  return await engine.load("m", await ensureFixture(FIXTURES[fixture]), OPTS);
}

Deno.test("a marker-less model never produces reasoning", async () => {
  await withEngine("plain", {}, async (engine) => {
    const info = await reload(engine, "plain");
    assertEquals(info.markers, null);
    const r = await collect(engine, "m", greedy(chat("think?", "<think>\n"), 24));
    assertEquals(r.reasoning, "");
    assert(r.deltas.every((d) => d.kind === "content"));
  });
});

Deno.test("the queue is bounded", async () => {
  await withEngine("plain", { slots: 1, maxQueue: 1 }, async (engine) => {
    const results = await Promise.all(
      [1, 2, 3].map(() => collect(engine, "m", greedy(chat("queue"), 16))),
    );
    const errors = results.filter((r) => r.error);
    assertEquals(errors.length, 1);
    assertEquals(errors[0].error?.code, "queue_full");
    assertEquals(results.filter((r) => r.done?.finishReason === "length").length, 2);
  });
});

Deno.test("a prompt longer than the context is refused", async () => {
  await withEngine("plain", { context: 64 }, async (engine) => {
    const r = await collect(engine, "m", greedy("word ".repeat(200), 4));
    assertEquals(r.error?.code, "context_exceeded");
  });
});

Deno.test("loads: twice is an error, a bad file leaves nothing, cancel frees", async () => {
  const engine = await Engine.start({ logLevel: "error" });
  try {
    const path = await ensureFixture(FIXTURES.plain);
    await engine.load("a", path, OPTS);
    await assertRejects(() => engine.load("a", path, OPTS), /already loaded/);
    const bogus = await Deno.makeTempFile({ suffix: ".gguf" });
    await Deno.writeTextFile(bogus, "not a gguf file");
    await assertRejects(() => engine.load("bad", bogus, OPTS), /could not load/);
    assertEquals(engine.deviceOf("bad"), undefined);
    await Deno.remove(bogus);

    const bench = await ensureFixture(FIXTURES.bench);
    const p = engine.load("big", bench, OPTS);
    engine.cancelLoad("big");
    await assertRejects(() => p, /cancel/);
    assertEquals(engine.deviceOf("big"), undefined);
    // The key is free again and the same model loads for real.
    await engine.load("big", bench, { ...OPTS, slots: 1 });
    const stats = (await engine.stats())[0].models.map((m) => m.key).sort();
    assertEquals(stats, ["a", "big"]);
  } finally {
    await engine.close();
  }
});

Deno.test("embeddings are pooled, normalised and deterministic", async () => {
  await withEngine("plain", { embeddings: true }, async (engine) => {
    const r = await engine.embed("m", ["hello world", "the sea", "hello world"]);
    assertEquals(r.vectors.length, 3);
    const info = await engine.tokenize("m", "hello world", true);
    assert(info.length > 0);
    for (const v of r.vectors) {
      const norm = Math.sqrt(v.reduce((s, x) => s + x * x, 0));
      assert(Math.abs(norm - 1) < 1e-4);
    }
    assertEquals(r.vectors[0], r.vectors[2]);
    assert(r.vectors[0].some((x, i) => Math.abs(x - r.vectors[1][i]) > 1e-4));
  });
});

Deno.test("token ids outside the vocabulary are refused, never wrapped or decoded", async () => {
  await withEngine("plain", { embeddings: true }, async (engine) => {
    // 2**32 + 1 would wrap to token 1 in an Int32Array; 99999999 failed llama_decode (a 500).
    for (const input of [[[1, 2], [99999999]], [[2 ** 32 + 1]]]) {
      const e = await engine.embed("m", input).then(() => null, (e) => e);
      assertEquals(e?.code, "bad_request", String(e));
    }
    const refused = [
      { prompt: [2 ** 32 + 1] },
      { prompt: "hi", sampling: { temperature: 0, logitBias: { [2 ** 32 + 300]: 100 } } },
      { prompt: "hi", sampling: { temperature: 0, logitBias: { 99999: 100 } } },
    ];
    for (const extra of refused) {
      const r = await collect(engine, "m", { ...greedy("hi", 2), ...extra });
      assertEquals(r.error?.code, "bad_request", JSON.stringify(extra));
    }
  });
});

Deno.test("a dead worker is reported failed and its requests error out", async () => {
  await withEngine("plain", {}, async (engine) => {
    engine.workers[0].terminate();
    const r = await collect(engine, "m", greedy(chat("hi"), 4));
    assertEquals(r.error?.code, "worker_failed");
    const devices = await engine.devices();
    assert(devices[0].failed);
  });
});
