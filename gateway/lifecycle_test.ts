import { assertEquals } from "../tests/assert.ts";
import type { NeuronModel } from "../core/neuron/schemas.ts";
import type { ModelProfile } from "../core/config/mod.ts";
import { neuronModel } from "../tests/helpers/neuron_model.ts";
import { pendingOn, profileBytes } from "./lifecycle.ts";

const MiB = 1024 * 1024;

const file = (over: Partial<NeuronModel> = {}): NeuronModel =>
  neuronModel({
    id: "m",
    state: "available",
    device: null,
    size_bytes: 100 * MiB,
    memory_bytes: 200 * MiB,
    context_length: 8192,
    slots: 4,
    kv_bytes_per_token: 1024,
    ...over,
  });

const profile = (over: Partial<ModelProfile> = {}): ModelProfile => ({
  id: "m",
  source: "m.gguf",
  aliases: [],
  pinned_on: [],
  residency_priority: 0,
  pinned: false,
  embeddings: false,
  sampling: {},
  ...over,
});

Deno.test("profileBytes: the neuron's estimate when the profile keeps its defaults", () => {
  assertEquals(profileBytes(profile(), [file()]), 200 * MiB);
});

Deno.test("profileBytes: vram_mb wins over any estimate", () => {
  assertEquals(profileBytes(profile({ vram_mb: 50, context_length: 8192 }), [file()]), 50 * MiB);
});

Deno.test("profileBytes: more context and slots add their KV cache", () => {
  // 8192 × 8 cells instead of 4096 × 4: 49152 more tokens at 1 KiB each.
  const need = profileBytes(profile({ context_length: 8192, parallel: 8 }), [file()]);
  assertEquals(need, 200 * MiB + 49152 * 1024);
});

Deno.test("profileBytes: context beyond the trained length is capped like the neuron does", () => {
  const need = profileBytes(profile({ context_length: 1 << 20, parallel: 4 }), [file()]);
  assertEquals(need, 200 * MiB + (8192 - 4096) * 4 * 1024);
});

Deno.test("profileBytes: less context needs less", () => {
  assertEquals(
    profileBytes(profile({ context_length: 2048 }), [file()]),
    200 * MiB - 2048 * 4 * 1024,
  );
});

Deno.test("profileBytes: entries without KV figures fall back to the estimate", () => {
  assertEquals(
    profileBytes(profile({ parallel: 8 }), [file({ kv_bytes_per_token: null })]),
    200 * MiB,
  );
});

Deno.test("profileBytes: a draft model adds its weights and compute, and a KV cache for the target's cells", () => {
  // Its estimate at its own 4096 × 2 cells: 10 MiB of weights, 79.5 MiB of compute buffers.
  const draft = file({
    id: "d",
    size_bytes: 10 * MiB,
    memory_bytes: 90 * MiB,
    kv_bytes_per_token: 64,
    slots: 2,
  });
  const fixed = 90 * MiB - 64 * 4096 * 2;
  // The neuron lists the target at 4096 × 4 cells: the draft caches as many tokens.
  assertEquals(
    profileBytes(profile({ draft: "d" }), [file()], [draft]),
    200 * MiB + fixed + 64 * 4096 * 4,
  );
  assertEquals(
    profileBytes(profile({ draft: "d", parallel: 8 }), [file()], [draft]),
    200 * MiB + 4096 * 4 * 1024 + fixed + 64 * 4096 * 8,
  );
  // Without its estimate, its file stands for weights and compute.
  assertEquals(
    profileBytes(profile({ draft: "d" }), [file()], [{ ...draft, memory_bytes: null }]),
    200 * MiB + 10 * MiB + 64 * 4096 * 4,
  );
  // An operator's vram_mb is the whole figure.
  assertEquals(profileBytes(profile({ draft: "d", vram_mb: 300 }), [file()], [draft]), 300 * MiB);
});

Deno.test("pendingOn: a load under way counts on its device; a split's on each of its devices", () => {
  const pending = new Map([
    ["a/CUDA0", 10 * MiB],
    ["a/CPU+RPC0", 30 * MiB],
    ["b/CPU", 5 * MiB],
  ]);
  assertEquals(pendingOn(pending, "a", "CUDA0"), 10 * MiB);
  // The split's shares are the neuron's to plan: its whole need holds each device it may use.
  assertEquals(pendingOn(pending, "a", "CPU"), 30 * MiB);
  assertEquals(pendingOn(pending, "a", "RPC0"), 30 * MiB);
  assertEquals(pendingOn(pending, "b", "CPU"), 5 * MiB);
  assertEquals(pendingOn(pending, "b", "RPC0"), 0);
});
