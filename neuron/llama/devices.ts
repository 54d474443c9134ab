/** Device discovery through ggml's backend device API. */

import type { LlamaLibrary } from "./library.ts";
import { getPointer, view } from "./structs.ts";

export type DeviceType = "cpu" | "gpu" | "igpu" | "accel" | "meta";
const TYPES: DeviceType[] = ["cpu", "gpu", "igpu", "accel", "meta"];

export interface DeviceInfo {
  /** ggml's device index (valid in the process that discovered it). */
  index: number;
  /** ggml's name, e.g. "CPU", "CUDA0". Stable across restarts. */
  name: string;
  description: string;
  type: DeviceType;
  /** PCI bus id when the backend knows it ("0000:c1:00.0"). */
  pciBusId: string | null;
  backend: string;
  memoryFreeBytes: number;
  memoryTotalBytes: number;
  /**
   * An RPC server's device. Its memory is not read here (0): asking means a network call,
   * which hangs for good once the server is gone (see rpc.ts); the engine keeps the figures it
   * read when the server was attached.
   */
  remote: boolean;
}

/** sizeof(struct ggml_backend_dev_props) on x86-64. */
const PROPS_SIZE = 56;
const cstr = (p: Deno.PointerValue) => p === null ? "" : Deno.UnsafePointerView.getCString(p);

export function listDevices(lib: LlamaLibrary): DeviceInfo[] {
  const g = lib.ggml;
  const out: DeviceInfo[] = [];
  const n = Number(g.ggml_backend_dev_count());
  for (let i = 0; i < n; i++) {
    const dev = g.ggml_backend_dev_get(BigInt(i));
    const type = TYPES[g.ggml_backend_dev_type(dev)] ?? "accel";
    // ACCEL devices (BLAS, AMX) assist the CPU; they hold no models of their own.
    if (type === "accel" || type === "meta") continue;
    const backend = cstr(g.ggml_backend_reg_name(g.ggml_backend_dev_backend_reg(dev)));
    if (backend === "RPC") {
      out.push({
        index: i,
        name: cstr(g.ggml_backend_dev_name(dev)),
        description: cstr(g.ggml_backend_dev_description(dev)),
        type,
        pciBusId: null,
        backend,
        memoryFreeBytes: 0,
        memoryTotalBytes: 0,
        remote: true,
      });
      continue;
    }
    const props = new Uint8Array(PROPS_SIZE);
    g.ggml_backend_dev_get_props(dev, props);
    const dv = view(props);
    const pci = cstr(getPointer(dv, 40));
    out.push({
      index: i,
      name: cstr(g.ggml_backend_dev_name(dev)),
      description: cstr(g.ggml_backend_dev_description(dev)),
      type,
      pciBusId: pci || null,
      backend,
      memoryFreeBytes: Number(dv.getBigUint64(16, true)),
      memoryTotalBytes: Number(dv.getBigUint64(24, true)),
      remote: false,
    });
  }
  return out;
}

/** Current free/total memory of one device. */
export function deviceMemory(lib: LlamaLibrary, index: number): { free: number; total: number } {
  const dev = lib.ggml.ggml_backend_dev_get(BigInt(index));
  const free = new BigUint64Array(1);
  const total = new BigUint64Array(1);
  lib.ggml.ggml_backend_dev_memory(dev, new Uint8Array(free.buffer), new Uint8Array(total.buffer));
  return { free: Number(free[0]), total: Number(total[0]) };
}

export function deviceHandle(lib: LlamaLibrary, index: number): Deno.PointerValue {
  return lib.ggml.ggml_backend_dev_get(BigInt(index));
}
