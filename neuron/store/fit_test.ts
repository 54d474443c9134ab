import { assert, assertEquals, assertMatch, assertThrows } from "../../tests/assert.ts";
import type { KvCacheType } from "../../core/neuron/schemas.ts";
import { AGENT_CONTEXT, type Fit, FitError, fitModel } from "./fit.ts";
import type { GgufHeader, GgufValue } from "./gguf_header.ts";
import { kvBytesPerToken, summarize } from "./summary.ts";

const GiB = 1024 ** 3;

/**
 * Headers with the metadata of published GGUFs (Q4_K_M files; file sizes as published),
 * read through the same summarize() a load uses.
 */
function header(arch: string, kv: Record<string, number>, nVocab: number): GgufHeader {
  const metadata = new Map<string, GgufValue>([["general.architecture", arch]]);
  for (const [k, v] of Object.entries(kv)) metadata.set(`${arch}.${k}`, v);
  metadata.set("tokenizer.ggml.tokens", Array.from({ length: nVocab }, (_, i) => `t${i}`));
  return { version: 3, tensorCount: 0, parameterCount: 0, metadata };
}

const MODELS = {
  // Meta-Llama-3.1-8B-Instruct-Q4_K_M.gguf
  llama8b: summarize(
    header("llama", {
      context_length: 131072,
      embedding_length: 4096,
      block_count: 32,
      "attention.head_count": 32,
      "attention.head_count_kv": 8,
    }, 128256),
    4_920_739_232,
  ),
  // Llama-3.2-1B-Instruct-Q4_K_M.gguf (a draft for the 8B: same vocabulary)
  llama1b: summarize(
    header("llama", {
      context_length: 131072,
      embedding_length: 2048,
      block_count: 16,
      "attention.head_count": 32,
      "attention.head_count_kv": 8,
    }, 128256),
    807_690_656,
  ),
  // Qwen3-30B-A3B-Q4_K_M.gguf (mixture of experts: all experts resident)
  qwen30bA3b: summarize(
    header("qwen3moe", {
      context_length: 40960,
      embedding_length: 2048,
      block_count: 48,
      "attention.head_count": 32,
      "attention.head_count_kv": 4,
      "attention.key_length": 128,
      "attention.value_length": 128,
    }, 151936),
    18_556_686_208,
  ),
  // Llama-3.3-70B-Instruct-Q4_K_M.gguf
  llama70b: summarize(
    header("llama", {
      context_length: 131072,
      embedding_length: 8192,
      block_count: 80,
      "attention.head_count": 64,
      "attention.head_count_kv": 8,
    }, 128256),
    42_520_395_584,
  ),
};

function fit(
  model: keyof typeof MODELS,
  gib: number,
  extra: { context?: number; slots?: number; kvType?: KvCacheType } = {},
): Fit {
  return fitModel({
    summary: MODELS[model],
    budgetBytes: gib * GiB,
    device: "CUDA0",
    nBatch: 512,
    kvType: extra.kvType ?? "f16",
    context: extra.context,
    slots: extra.slots,
  });
}

/** The FitError a call throws. */
function refusal(fn: () => unknown, re: RegExp): FitError {
  const e = assertThrows(fn, re);
  assert(e instanceof FitError, `${e.name}: ${e.message}`);
  return e;
}

function assertWithin(f: Fit, gib: number) {
  assert(f.totalBytes <= gib * GiB, `${f.totalBytes} > ${gib} GiB`);
}

Deno.test("KV bytes per token follow the model's shape and the cache type", () => {
  // Llama-3-8B: 32 layers × (8 heads × 128) × K and V × 2 bytes = 128 KiB per token.
  assertEquals(kvBytesPerToken(MODELS.llama8b), 131072);
  assertEquals(kvBytesPerToken(MODELS.llama8b, "q8_0"), 69632);
  assertEquals(kvBytesPerToken(MODELS.llama8b, "q4_0"), 36864);
  assertEquals(kvBytesPerToken(MODELS.qwen30bA3b), 98304);
  assertEquals(kvBytesPerToken(MODELS.llama70b), 327680);
});

Deno.test("8B Q4_K_M: 24 GiB gives 4 slots of at least 32k tokens each", () => {
  const f = fit("llama8b", 24);
  assertEquals(f.slots, 4);
  assert(f.context >= AGENT_CONTEXT, `context ${f.context}`);
  assertEquals(f.context, 38912);
  assertWithin(f, 24);
  assertMatch(f.reduced!, /context 131072 → 38912/);
});

Deno.test("8B Q4_K_M: 8 GiB gives up slots before context; 80 GiB the trained length", () => {
  const small = fit("llama8b", 8);
  assertEquals([small.slots, small.context], [1, 24832]);
  assertWithin(small, 8);
  const big = fit("llama8b", 80);
  assertEquals([big.slots, big.context, big.reduced], [4, 131072, null]);
});

Deno.test("q8_0 and q4_0 fit more context in the same memory", () => {
  const f16 = fit("llama8b", 8);
  const q8 = fit("llama8b", 8, { kvType: "q8_0" });
  const q4 = fit("llama8b", 8, { kvType: "q4_0" });
  assertEquals([q8.slots, q8.context], [1, 46848]);
  assert(q8.context > f16.context);
  // q4_0 holds enough for a second 32k+ slot.
  assertEquals([q4.slots, q4.context], [2, 44032]);
  assertWithin(q4, 8);
});

Deno.test("Qwen3-30B-A3B: refused on 8 GiB, 2 × 34k on 24 GiB, trained length on 80 GiB", () => {
  const e = refusal(() => fit("qwen30bA3b", 8), /weights 17698 MiB/);
  assertMatch(e.message, /CUDA0 can give 8192 MiB/);
  const mid = fit("qwen30bA3b", 24);
  assertEquals([mid.slots, mid.context], [2, 34560]);
  assertWithin(mid, 24);
  assertEquals([fit("qwen30bA3b", 80).slots, fit("qwen30bA3b", 80).context], [4, 40960]);
});

Deno.test("70B: refused on 8 and 24 GiB; 80 GiB keeps 32k+ per request on 3 slots", () => {
  for (const gib of [8, 24]) refusal(() => fit("llama70b", gib), /does not fit/);
  const f = fit("llama70b", 80);
  assertEquals([f.slots, f.context], [3, 43520]);
  assertWithin(f, 80);
});

Deno.test("explicit settings win, and one that cannot fit is refused with the numbers", () => {
  const set = fit("llama8b", 24, { context: 8192, slots: 8 });
  assertEquals([set.context, set.slots, set.reduced], [8192, 8, null]);
  // Context beyond the trained length is capped, never refused for that.
  assertEquals(fit("llama8b", 80, { context: 1 << 20, slots: 1 }).context, 131072);
  const e = refusal(
    () => fit("llama8b", 24, { context: 131072, slots: 4 }),
    /context × slots as configured: needs 70\d\d\d MiB/,
  );
  assertMatch(e.message, /KV cache 65536 MiB for 4 slots × 131072 tokens at f16/);
  assertEquals(e.details.required_bytes, 4_920_739_232 + 405_274_624 + 131072 * 131072 * 4);
  // Explicit context, default slots: slots give way; explicit slots: context gives way.
  assertEquals(fit("llama8b", 24, { context: 65536 }).slots, 2);
  assertEquals(fit("llama8b", 24, { slots: 8 }).context, 19456);
  refusal(() => fit("llama8b", 8, { slots: 16 }), /under the 4096-token floor/);
});

Deno.test("a quantized cache is refused for heads that are not whole blocks", () => {
  const narrow = summarize(
    header("llama", {
      context_length: 4096,
      embedding_length: 64,
      block_count: 2,
      "attention.head_count": 4,
    }, 100),
    1_000_000,
  );
  const req = { summary: narrow, budgetBytes: GiB, device: "CPU", nBatch: 512 };
  assertEquals(fitModel({ ...req, kvType: "f16" }).context, 4096);
  refusal(
    () => fitModel({ ...req, kvType: "q8_0" }),
    /kv_cache_type "q8_0" needs attention heads a multiple of 32 wide/,
  );
});

Deno.test("a draft model's weights, compute and KV cache count in the fit", () => {
  const alone = fit("llama8b", 32, { slots: 2, context: 32768 });
  const withDraft = fitModel({
    summary: MODELS.llama8b,
    draft: MODELS.llama1b,
    budgetBytes: 32 * GiB,
    device: "CUDA0",
    nBatch: 512,
    kvType: "f16",
    context: 32768,
    slots: 2,
  });
  const draftKv = kvBytesPerToken(MODELS.llama1b, "f16") * 32768 * 2;
  assertEquals(withDraft.weightsBytes, alone.weightsBytes + MODELS.llama1b.fileBytes);
  assertEquals(withDraft.kvBytes, alone.kvBytes + draftKv);
  assert(withDraft.computeBytes > alone.computeBytes);
  // Fitted: the draft's cache takes context the target alone would have had.
  const fitted = (draft?: typeof MODELS.llama1b) =>
    fitModel({
      summary: MODELS.llama8b,
      draft,
      budgetBytes: 12 * GiB,
      device: "CUDA0",
      nBatch: 512,
      kvType: "f16",
    });
  assert(
    fitted(MODELS.llama1b).context * fitted(MODELS.llama1b).slots <
      fitted().context * fitted().slots,
  );
  refusal(() =>
    fitModel({
      summary: MODELS.llama8b,
      draft: MODELS.llama1b,
      budgetBytes: 6 * GiB,
      device: "CUDA0",
      nBatch: 512,
      kvType: "f16",
      context: 32768,
      slots: 1,
    }), /with the draft's 771 MiB/);
});
