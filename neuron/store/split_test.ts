import { assert, assertEquals, assertMatch, assertThrows } from "../../tests/assert.ts";
import { FitError } from "./fit.ts";
import type { GgufHeader, GgufValue } from "./gguf_header.ts";
import {
  apportion,
  planSplit,
  type SplitDevice,
  type SplitRequest,
  SplitRequestError,
} from "./split.ts";
import { summarize } from "./summary.ts";

const GiB = 1024 ** 3;

// Llama-3.3-70B-Instruct-Q4_K_M.gguf's metadata and size (42.5 GB): the model two 24 GB GPUs
// are bought for.
function llama70b() {
  const metadata = new Map<string, GgufValue>([["general.architecture", "llama"]]);
  const kv = {
    context_length: 131072,
    embedding_length: 8192,
    block_count: 80,
    "attention.head_count": 64,
    "attention.head_count_kv": 8,
  };
  for (const [k, v] of Object.entries(kv)) metadata.set(`llama.${k}`, v);
  metadata.set("tokenizer.ggml.tokens", Array.from({ length: 128256 }, (_, i) => `t${i}`));
  const h: GgufHeader = { version: 3, tensorCount: 0, parameterCount: 0, metadata };
  return summarize(h, 42_520_395_584);
}

const gpu = (name: string, gib: number): SplitDevice => ({
  name,
  budgetBytes: gib * GiB,
  cpu: false,
});
const cpu = (gib: number): SplitDevice => ({ name: "CPU", budgetBytes: gib * GiB, cpu: true });

function req(devices: SplitDevice[], over: Partial<SplitRequest> = {}): SplitRequest {
  return {
    summary: llama70b(),
    devices,
    mode: "layer",
    fixed: false,
    nBatch: 512,
    kvType: "f16",
    context: 8192,
    slots: 1,
    ...over,
  };
}

Deno.test("apportion: whole layers in proportion, largest remainder, summing to n", () => {
  assertEquals(apportion(80, [1, 1]), [40, 40]);
  assertEquals(apportion(80, [1, 3]), [20, 60]);
  assertEquals(apportion(10, [1, 1, 1]), [4, 3, 3]);
  assertEquals(apportion(5, [0, 2]), [0, 5]);
  assertEquals(apportion(5, [0, 0]), [0, 0]);
});

Deno.test("planSplit: a 70B Q4 on two 24 GiB GPUs: neither holds it, both together do", () => {
  const p = planSplit(req([gpu("CUDA0", 24), gpu("CUDA1", 24)]));
  assertEquals(p.shares.map((s) => s.device), ["CUDA0", "CUDA1"]);
  assertEquals(p.shares[0].layers + p.shares[1].layers, 80);
  for (const s of p.shares) assert(s.bytes <= 24 * GiB, `${s.device}: ${s.bytes / GiB} GiB`);
  // The shares are what is accounted: they add up to the model's memory.
  assertEquals(p.shares[0].bytes + p.shares[1].bytes, p.fit.totalBytes);
  assert(p.fit.totalBytes > 40 * GiB);
  assertEquals(p.fit.context, 8192);
  // No CPU in it: every layer and the output are offloaded, the output with the last device.
  assertEquals(p.gpuLayers, 81);
  assertEquals(p.tensorSplit, [p.shares[0].layers, p.shares[1].layers + 1]);
});

Deno.test("planSplit: the fewest leading devices that hold it, in the order given", () => {
  const p = planSplit(req([gpu("CUDA0", 24), gpu("CUDA1", 24), gpu("CUDA2", 24)]));
  assertEquals(p.shares.map((s) => s.device), ["CUDA0", "CUDA1"]);
  // Listed (fixed): every device takes part.
  const all = planSplit(
    req([gpu("CUDA0", 24), gpu("CUDA1", 24), gpu("CUDA2", 24)], { fixed: true }),
  );
  assertEquals(all.shares.map((s) => s.device), ["CUDA0", "CUDA1", "CUDA2"]);
  assertEquals(all.shares.reduce((a, s) => a + s.layers, 0), 80);
});

Deno.test("planSplit: tensor_split ratios set the layers; a device with more room gets more", () => {
  const p = planSplit(
    req([gpu("CUDA0", 48), gpu("CUDA1", 48)], { fixed: true, tensorSplit: [1, 3] }),
  );
  assertEquals(p.shares.map((s) => s.layers), [20, 60]);
  const byRoom = planSplit(req([gpu("CUDA0", 40), gpu("CUDA1", 20)], { fixed: true }));
  assert(byRoom.shares[0].layers > byRoom.shares[1].layers, JSON.stringify(byRoom.shares));
});

Deno.test("planSplit: the CPU goes first (llama.cpp keeps the layers it does not offload)", () => {
  const p = planSplit(req([gpu("RPC0", 24), cpu(24)], { fixed: true }));
  assertEquals(p.shares.map((s) => s.device), ["CPU", "RPC0"]);
  const [c, r] = p.shares;
  // n_gpu_layers counts what leaves the CPU, plus the output layer; tensor_split covers the
  // offload devices only.
  assertEquals(p.gpuLayers, 80 - c.layers + 1);
  assertEquals(p.tensorSplit, [r.layers + 1]);
  for (const s of p.shares) assert(s.bytes <= 24 * GiB, `${s.device}: ${s.bytes / GiB} GiB`);
});

Deno.test("planSplit: a device listed takes a layer, or the request says which field is at fault", () => {
  // A share too small for one layer: the tensor_split's fault, the device named.
  const tiny = assertThrows(
    () =>
      planSplit(
        req([gpu("CUDA0", 48), gpu("CUDA1", 48), gpu("CUDA2", 48)], {
          fixed: true,
          tensorSplit: [1, 0.001, 1],
        }),
      ),
    /^tensor_split: CUDA1's share gives it none of the model's 80 layers/,
  );
  assert(tiny instanceof SplitRequestError && tiny.field === "tensor_split");
  // More devices listed than layers.
  const few = { ...llama70b(), nLayer: 2 };
  const many = assertThrows(
    () => planSplit(req([gpu("A", 48), gpu("B", 48), gpu("C", 48)], { fixed: true, summary: few })),
    /^devices: 3 devices for a model of 2 layers; list at most 2/,
  );
  assert(many instanceof SplitRequestError && many.field === "devices");
});

Deno.test("planSplit: a device with no room for a layer does not fit; no split leaves it idle", () => {
  // The CPU (the one local device, which would run the model) has no room past its fixed
  // part: no plan puts every layer on the RPC device and calls that a split.
  const e = assertThrows(
    () => planSplit(req([cpu(0.5), gpu("RPC0", 200)])),
    /CPU has no room for one of the model's layers/,
  );
  assert(e instanceof FitError);
});

Deno.test("planSplit: too large for the devices together: the figures, each device named", () => {
  const e = assertThrows(
    () => planSplit(req([gpu("CUDA0", 16), gpu("CUDA1", 16)])),
    /does not fit a layer split over CUDA0, CUDA1/,
  );
  assert(e instanceof FitError);
  assertMatch(e.message, /CUDA0 16384 MiB, CUDA1 16384 MiB/);
  assertEquals(e.details.devices, ["CUDA0", "CUDA1"]);
});
