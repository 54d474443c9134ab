/**
 * How a model that one device cannot hold is split across several, and what each device holds.
 *
 * llama.cpp splits by layers: with a CPU in the split, the first layers stay on it (the layers
 * it does not offload) and the rest go to the other devices in order, the output layer with the
 * last one; the token embeddings always stay in host memory. Each device then holds its layers'
 * weights and KV cache plus its own compute buffers. We choose the layer counts ourselves and
 * pass them as `tensor_split` (and `n_gpu_layers` for the CPU's part), so the shares accounted
 * here are the ones llama.cpp makes, not a guess at its rounding.
 *
 * Context and slots follow the single-device rule (`fit.ts`) with the split's KV room: the
 * device whose room runs out first (for its layers) bounds the cells every layer gets.
 */

import type { KvCacheType, SplitMode } from "../../core/neuron/schemas.ts";
import { type Fit, FitError, fitModel } from "./fit.ts";
import { computeBytes, kvBytesPerToken, type ModelSummary } from "./summary.ts";

export interface SplitDevice {
  name: string;
  /** Bytes the device can give now. */
  budgetBytes: number;
  cpu: boolean;
}

export interface SplitRequest {
  summary: ModelSummary;
  /** Candidates in order of preference (a fixed list: exactly these, in this order). */
  devices: SplitDevice[];
  mode: SplitMode;
  /** Use every device listed (an explicit list); else the fewest that fit, in order. */
  fixed: boolean;
  /** Relative shares per device (same order); absent: by each device's room. */
  tensorSplit?: number[];
  nBatch: number;
  kvType: KvCacheType;
  context?: number;
  slots?: number;
}

/** A split the request asked for that cannot be made as asked (a 400 naming `field`). */
export class SplitRequestError extends Error {
  override name = "SplitRequestError";
  constructor(readonly field: "devices" | "tensor_split", message: string) {
    super(`${field}: ${message}`);
  }
}

export interface SplitShare {
  device: string;
  layers: number;
  bytes: number;
}

export interface SplitPlan {
  mode: SplitMode;
  fit: Fit;
  /** In llama.cpp's order: the CPU first when it takes part, then the offload devices. */
  shares: SplitShare[];
  /** `n_gpu_layers`: the layers not on the CPU, plus the output layer. */
  gpuLayers: number;
  /** `tensor_split` over the offload devices (the non-CPU shares), in order. */
  tensorSplit: number[];
}

const MiB = 1024 * 1024;
const mib = (b: number) => `${Math.ceil(b / MiB)} MiB`;

/** Per-layer and fixed byte figures of a model (estimates that err high, as fit.ts does). */
function layerBytes(s: ModelSummary, nBatch: number, kvType: KvCacheType) {
  const layers = Math.max(1, s.nLayer);
  // Average bytes per weight: sizes the embedding and output matrices (vocab × embd each).
  const perWeight = s.parameterCount ? s.fileBytes / s.parameterCount : 2;
  const embd = Math.ceil(s.nVocab * s.nEmbd * perWeight);
  const perLayer = Math.max(0, Math.ceil((s.fileBytes - 2 * embd) / layers));
  return {
    embd,
    output: embd,
    perLayer,
    kvPerLayerToken: kvBytesPerToken(s, kvType) / layers,
    compute: computeBytes(s, nBatch),
  };
}

/** Integer layer counts in proportion to `ratios` (largest remainder), summing to `n`. */
export function apportion(n: number, ratios: number[]): number[] {
  const sum = ratios.reduce((a, b) => a + Math.max(0, b), 0);
  if (sum <= 0) return ratios.map(() => 0);
  const exact = ratios.map((r) => n * Math.max(0, r) / sum);
  const out = exact.map(Math.floor);
  let left = n - out.reduce((a, b) => a + b, 0);
  const order = exact.map((e, i) => [e - Math.floor(e), i] as const).sort((a, b) =>
    b[0] - a[0] || a[1] - b[1]
  );
  for (const [, i] of order) {
    if (left <= 0) break;
    out[i]++;
    left--;
  }
  return out;
}

/**
 * The plan for one set of devices, or a FitError with the figures. Devices are reordered CPU
 * first (llama.cpp keeps the layers it does not offload at the start).
 */
function planFor(r: SplitRequest, devices: SplitDevice[], ratios?: number[]): SplitPlan {
  const s = r.summary;
  const b = layerBytes(s, r.nBatch, r.kvType);
  const order = devices.map((d, i) => ({ d, ratio: ratios?.[i] }))
    .sort((x, y) => Number(y.d.cpu) - Number(x.d.cpu));
  const fixedOf = (i: number, n: number, d: SplitDevice) =>
    b.compute + (d.cpu ? b.embd : 0) + (i === n - 1 ? b.output : 0);
  // Shares by room after each device's fixed part, unless the caller gave them.
  const weights = order.map((o, i) =>
    o.ratio ?? Math.max(0, o.d.budgetBytes - fixedOf(i, order.length, o.d))
  );
  const layers = apportion(s.nLayer, weights);
  // Every device takes a layer: one given none would hold compute buffers for nothing, and a
  // split of one device (or of RPC devices only) is no split. Asked for, that is the request's
  // fault; planned, this set of devices does not fit.
  const idle = order.findIndex((_, i) => layers[i] === 0);
  if (idle >= 0) {
    const name = order[idle].d.name;
    if (ratios) {
      throw new SplitRequestError(
        "tensor_split",
        `${name}'s share gives it none of the model's ${s.nLayer} layers; every device listed ` +
          `takes at least one (raise its share or leave it out)`,
      );
    }
    if (r.fixed) {
      throw new SplitRequestError(
        "devices",
        order.length > s.nLayer
          ? `${order.length} devices for a model of ${s.nLayer} layers; list at most ${s.nLayer}`
          : `${name} has no room for one of the model's layers beside its fixed part; ` +
            `leave it out`,
      );
    }
    throw new FitError(
      `does not fit a ${r.mode} split over ${order.map((o) => o.d.name).join(", ")}: ${name} ` +
        `has no room for one of the model's layers (${mib(order[idle].d.budgetBytes)})`,
      { devices: order.map((o) => o.d.name), device: name },
    );
  }
  const used = order;
  const n = used.length;
  const perToken = kvBytesPerToken(s, r.kvType);
  const names = used.map((o) => o.d.name).join(", ");
  const together = used.reduce((a, o) => a + o.d.budgetBytes, 0);
  // Cells every layer can have: the tightest device bounds them.
  let cells = Infinity;
  used.forEach((o, i) => {
    const room = o.d.budgetBytes - fixedOf(i, n, o.d) - layers[i] * b.perLayer;
    cells = Math.min(cells, Math.floor(room / (layers[i] * b.kvPerLayerToken)));
  });
  const weightsTotal = used.reduce((a, o, i) => a + (fixedOf(i, n, o.d) - b.compute), 0) +
    s.nLayer * b.perLayer;
  let fit: Fit;
  try {
    fit = fitModel({
      summary: { ...s, fileBytes: weightsTotal },
      budgetBytes: weightsTotal + b.compute + Math.max(0, cells) * perToken,
      device: names,
      nBatch: r.nBatch,
      kvType: r.kvType,
      context: r.context,
      slots: r.slots,
    });
  } catch (e) {
    if (!(e instanceof FitError)) throw e;
    const context = Number(e.details.context ?? 0);
    const slots = Number(e.details.slots ?? 1);
    const need = weightsTotal + n * b.compute + perToken * context * slots;
    throw new FitError(
      `does not fit a ${r.mode} split over ${names}: needs about ${mib(need)} (weights ${
        mib(weightsTotal)
      }, compute ${mib(b.compute)} on each of ${n} devices, KV cache ${
        mib(perToken * context * slots)
      } for ${slots} slot${slots === 1 ? "" : "s"} × ${context} tokens) but they can give ${
        mib(together)
      } together (${used.map((o) => `${o.d.name} ${mib(o.d.budgetBytes)}`).join(", ")}), ` +
        `and each device must hold its own layers`,
      { ...e.details, devices: used.map((o) => o.d.name), budget_bytes: together },
    );
  }
  const kvPerLayer = b.kvPerLayerToken * fit.context * fit.slots;
  const shares = used.map((o, i) => ({
    device: o.d.name,
    layers: layers[i],
    bytes: Math.ceil(fixedOf(i, n, o.d) + layers[i] * (b.perLayer + kvPerLayer)),
  }));
  const cpuLayers = used[0]?.d.cpu ? layers[0] : 0;
  const offload = used.map((o, i) => ({ o, l: layers[i] })).filter((x) => !x.o.d.cpu);
  return {
    mode: r.mode,
    fit: {
      ...fit,
      weightsBytes: weightsTotal,
      computeBytes: n * b.compute,
      totalBytes: shares.reduce((a, x) => a + x.bytes, 0),
    },
    shares,
    gpuLayers: s.nLayer - cpuLayers + 1,
    // The output layer is one more unit on the last device (llama.cpp counts it in the split).
    tensorSplit: offload.map((x, i) => x.l + (i === offload.length - 1 ? 1 : 0)),
  };
}

/**
 * Plans a split: over exactly the listed devices (`fixed`), or over the fewest leading ones of
 * the list that hold the model. Throws FitError when no plan fits.
 */
export function planSplit(r: SplitRequest): SplitPlan {
  if (r.fixed) return planFor(r, r.devices, r.tensorSplit);
  let last: unknown;
  for (let n = 2; n <= r.devices.length; n++) {
    try {
      return planFor(r, r.devices.slice(0, n));
    } catch (e) {
      if (!(e instanceof FitError)) throw e;
      last = e;
    }
  }
  if (last) throw last;
  throw new FitError(
    `a split needs at least two devices; this neuron has ${
      r.devices.map((d) => d.name).join(", ") || "none"
    }`,
    { devices: r.devices.map((d) => d.name) },
  );
}
