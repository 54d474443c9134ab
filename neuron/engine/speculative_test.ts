/**
 * Speculative decoding on real llama.cpp: at temperature 0 every request's output is the
 * same with and without drafting (draft model or prompt lookup), alone and batched with
 * other sequences, with stop strings and grammars; and drafting is actually accepted where
 * it should be (a perfect draft) and backs off where it is not (an unrelated one).
 */

import { assert, assertEquals, assertRejects } from "../../tests/assert.ts";
import { ensureFixture, FIXTURES } from "../../tests/fixtures/mod.ts";
import { Engine } from "./engine.ts";
import type {
  EngineEvent,
  GenerateParams,
  LoadOptions,
  ModelStats,
  SpeculativeMode,
} from "./types.ts";

const OPTS: LoadOptions = {
  context: 1024,
  slots: 4,
  nBatch: 256,
  nThreads: 1,
  maxQueue: 8,
  draftMax: 8,
};

interface Run {
  content: string;
  reasoning: string;
  tokens: number;
  done: Extract<EngineEvent, { type: "done" }>;
}

async function run(engine: Engine, params: GenerateParams, key = "m"): Promise<Run> {
  let content = "";
  let reasoning = "";
  for await (const ev of engine.stream(key, params)) {
    if (ev.type === "delta") {
      for (const d of ev.deltas) d.kind === "content" ? content += d.text : reasoning += d.text;
    } else if (ev.type === "done") {
      return { content, reasoning, tokens: ev.usage.completionTokens, done: ev };
    } else if (ev.type === "error") throw new Error(`${ev.code}: ${ev.message}`);
  }
  throw new Error("stream ended without done");
}

/** A chat prompt; `think` pre-opens the reasoning block (output goes to reasoning first). */
const chat = (user: string, think = true) =>
  `<|im_start|>user\n${user}<|im_end|>\n<|im_start|>assistant\n${think ? "<think>\n" : ""}`;

/** Prompts with repeated spans (where prompt lookup drafts) and without. */
const PROMPTS = [
  chat("def add(a, b):\n    return a + b\n\ndef add(a, b):\n    return a + b\n"),
  chat("the quick brown fox jumps over the lazy dog"),
  chat("tell me a story about the sea and the wind and the sea and the wind", false),
  "a plain completion prompt about tools and files",
];

const params = (
  prompt: string,
  speculative: SpeculativeMode,
  extra: Partial<GenerateParams> = {},
): GenerateParams => ({
  prompt,
  maxTokens: 48,
  sampling: { temperature: 0 },
  stop: [],
  speculative,
  ...extra,
});

async function withModel(
  draft: "specDraft" | "specUnrelated" | null,
  fn: (e: Engine, stats: () => Promise<ModelStats>) => Promise<void>,
  opts: Partial<LoadOptions> = {},
) {
  const engine = await Engine.start({ logLevel: "warn" });
  try {
    await engine.load("m", await ensureFixture(FIXTURES.specTarget), {
      ...OPTS,
      ...(draft ? { draftPath: await ensureFixture(FIXTURES[draft]) } : {}),
      ...opts,
    });
    await fn(engine, async () => (await engine.stats())[0].models[0]);
  } finally {
    await engine.close();
  }
}

function same(a: Run, b: Run, what: string) {
  assertEquals(a.reasoning, b.reasoning, `${what}: reasoning`);
  assertEquals(a.content, b.content, `${what}: content`);
  assertEquals(a.tokens, b.tokens, `${what}: tokens`);
  assertEquals(a.done.finishReason, b.done.finishReason, `${what}: finish reason`);
}

Deno.test("a perfect draft is accepted and the output is plain decoding's, token for token", async () => {
  await withModel("specDraft", async (engine, stats) => {
    for (const [i, p] of PROMPTS.entries()) {
      const plain = await run(engine, params(p, "off"));
      const s0 = await stats();
      const spec = await run(engine, params(p, "draft"));
      const s1 = await stats();
      same(spec, plain, `prompt ${i}`);
      const drafted = s1.draftedTokens - s0.draftedTokens;
      const accepted = s1.acceptedTokens - s0.acceptedTokens;
      const steps = s1.decodeSteps - s0.decodeSteps;
      // The draft computes exactly what the target computes: every verified token matches
      // (up to the draft the request's end cut short).
      assert(drafted > 0 && accepted >= drafted - 8, `prompt ${i}: ${accepted}/${drafted}`);
      assert(steps < spec.tokens / 2, `prompt ${i}: ${steps} steps for ${spec.tokens} tokens`);
    }
  });
});

Deno.test("an unrelated draft changes nothing in the output and backs off", async () => {
  await withModel("specUnrelated", async (engine, stats) => {
    for (const [i, p] of PROMPTS.entries()) {
      const plain = await run(engine, params(p, "off", { maxTokens: 200 }));
      const s0 = await stats();
      const spec = await run(engine, params(p, "draft", { maxTokens: 200 }));
      const s1 = await stats();
      same(spec, plain, `prompt ${i}`);
      // Misses pause drafting (8, 4, 2, 1 tokens, then 1 at growing intervals): far fewer
      // tokens drafted than generated unless the draft happens to agree.
      const drafted = s1.draftedTokens - s0.draftedTokens;
      const accepted = s1.acceptedTokens - s0.acceptedTokens;
      assert(drafted - accepted < 40, `prompt ${i}: ${accepted}/${drafted} over ${spec.tokens}`);
    }
  });
});

Deno.test("prompt lookup gives plain decoding's output and drafts from repeated spans", async () => {
  await withModel(null, async (engine, stats) => {
    let accepted = 0;
    for (const [i, p] of PROMPTS.entries()) {
      const plain = await run(engine, params(p, "off", { maxTokens: 96 }));
      const s0 = await stats();
      const spec = await run(engine, params(p, "ngram", { maxTokens: 96 }));
      const s1 = await stats();
      same(spec, plain, `prompt ${i}`);
      accepted += s1.acceptedTokens - s0.acceptedTokens;
    }
    assert(accepted > 0, "some lookup draft was accepted");
  });
});

Deno.test("speculating and plain sequences batched together each give their plain output", async () => {
  await withModel("specDraft", async (engine, stats) => {
    const alone: Run[] = [];
    for (const p of PROMPTS) alone.push(await run(engine, params(p, "off")));
    const modes: SpeculativeMode[] = ["draft", "off", "ngram", "draft"];
    for (let round = 0; round < 2; round++) {
      const s0 = await stats();
      const together = await Promise.all(
        PROMPTS.map((p, i) => run(engine, params(p, modes[(i + round) % modes.length]))),
      );
      const s1 = await stats();
      together.forEach((r, i) => same(r, alone[i], `round ${round} prompt ${i}`));
      assert(s1.acceptedTokens > s0.acceptedTokens, "drafts were accepted within the batch");
    }
  });
});

Deno.test("sequences drafting in the same steps share draft_max", async () => {
  await withModel("specDraft", async (engine, stats) => {
    const alone = await run(engine, params(PROMPTS[0], "draft"));
    const s0 = await stats();
    const together = await Promise.all(PROMPTS.map((p) => run(engine, params(p, "draft"))));
    const s1 = await stats();
    same(together[0], alone, "batched");
    const drafted = s1.draftedTokens - s0.draftedTokens;
    const steps = s1.decodeSteps - s0.decodeSteps;
    // Four perfect drafts each alone would grow to draft_max (8) per step, 32 in all.
    assert(drafted > 0, "drafted");
    assert(drafted <= OPTS.draftMax! * steps, `${drafted} tokens drafted in ${steps} steps`);
  });
});

Deno.test("stop strings end a speculated generation where plain decoding ends it", async () => {
  await withModel("specDraft", async (engine) => {
    const p = PROMPTS[2];
    const full = await run(engine, params(p, "off", { maxTokens: 64 }));
    assert(full.content.length > 12, `content: ${JSON.stringify(full.content)}`);
    // Stops inside the answer at several offsets, so some fall in the middle of a draft.
    for (const at of [3, 7, 11]) {
      const stop = full.content.slice(at, at + 2);
      const plain = await run(engine, params(p, "off", { maxTokens: 64, stop: [stop] }));
      for (const mode of ["draft", "ngram"] as const) {
        const spec = await run(engine, params(p, mode, { maxTokens: 64, stop: [stop] }));
        same(spec, plain, `stop ${JSON.stringify(stop)} ${mode}`);
        assertEquals(spec.done.stop, stop);
      }
    }
    // max_tokens falls inside drafts too.
    for (const max of [1, 2, 5, 9]) {
      const plain = await run(engine, params(p, "off", { maxTokens: max }));
      const spec = await run(engine, params(p, "draft", { maxTokens: max }));
      same(spec, plain, `max_tokens ${max}`);
      assertEquals(spec.tokens, max);
    }
  });
});

Deno.test("a grammar constrains speculated output exactly as plain output", async () => {
  await withModel("specDraft", async (engine) => {
    // An answer grammar after free reasoning, and a raw grammar from the first token.
    const cases: Partial<GenerateParams>[] = [
      {
        sampling: {
          temperature: 0,
          grammar: 'root ::= "{\\"a\\": " [0-9]+ ", \\"b\\": \\"" [a-z ]+ "\\"}"',
        },
        answerGrammar: true,
      },
      {
        sampling: { temperature: 0, grammar: 'root ::= ("yes" | "no" | [a-z]+) " " [a-z ]{3,30}' },
      },
    ];
    for (const [i, extra] of cases.entries()) {
      for (const p of PROMPTS.slice(0, 3)) {
        const plain = await run(engine, params(p, "off", { maxTokens: 80, ...extra }));
        for (const mode of ["draft", "ngram"] as const) {
          const spec = await run(engine, params(p, mode, { maxTokens: 80, ...extra }));
          same(spec, plain, `grammar ${i} ${mode}`);
        }
      }
    }
  });
});

Deno.test("sampling at a temperature with a seed is unchanged by speculation", async () => {
  await withModel("specDraft", async (engine, stats) => {
    const sampling = { temperature: 0.8, seed: 42, topK: 40 };
    for (const p of PROMPTS) {
      const plain = await run(engine, params(p, "off", { sampling }));
      const s0 = await stats();
      const spec = await run(engine, params(p, "draft", { sampling }));
      const s1 = await stats();
      same(spec, plain, "seeded sampling");
      assert(s1.draftedTokens > s0.draftedTokens);
    }
  });
});

Deno.test("cancelling a speculating request frees its slot", async () => {
  await withModel("specDraft", async (engine) => {
    let deltas = 0;
    const done = await new Promise<Extract<EngineEvent, { type: "done" }>>((resolve) => {
      const h = engine.generate("m", params(PROMPTS[0], "draft", { maxTokens: 100_000 }), (ev) => {
        if (ev.type === "delta" && ++deltas === 3) h.cancel();
        if (ev.type === "done") resolve(ev);
      });
    });
    assertEquals(done.finishReason, "cancelled");
    const after = await run(engine, params(PROMPTS[1], "draft"));
    assertEquals(after.done.finishReason, "length");
  }, { slots: 1 });
});

Deno.test("drafting needs a draft model; an incompatible vocabulary is refused at load", async () => {
  await withModel(null, async (engine) => {
    await assertRejects(() => run(engine, params(PROMPTS[0], "draft")), /draft model/);
  });
  const engine = await Engine.start({ logLevel: "warn" });
  try {
    const target = await ensureFixture(FIXTURES.specTarget);
    // Llama 3's vocabulary: its token ids mean other text.
    await assertRejects(
      async () =>
        await engine.load("m", target, {
          ...OPTS,
          draftPath: await ensureFixture(FIXTURES.llama3),
        }),
      /the draft model's vocabulary does not match/,
    );
    // Nothing of the refused load is left: the same key loads (and serves) again.
    await engine.load("m", target, OPTS);
    assertEquals((await run(engine, params(PROMPTS[1], "ngram"))).done.finishReason, "length");
  } finally {
    await engine.close();
  }
});

Deno.test("draft_min_p: a draft token the draft model is less sure of ends the draft", async () => {
  // Random weights are never 99.9% sure: nothing is drafted, and the output is unchanged.
  await withModel("specDraft", async (engine, stats) => {
    const plain = await run(engine, params(PROMPTS[1], "off"));
    const spec = await run(engine, params(PROMPTS[1], "draft"));
    same(spec, plain, "min_p 0.999");
    assertEquals((await stats()).draftedTokens, 0);
  }, { draftMinP: 0.999 });
  await withModel("specDraft", async (engine, stats) => {
    await run(engine, params(PROMPTS[1], "draft"));
    assert((await stats()).draftedTokens > 0, "min_p 0 drafts");
  }, { draftMinP: 0 });
});
