/**
 * GPU temperature and utilisation through NVML, when libnvidia-ml.so.1 is
 * present. Absent or failing NVML yields nulls: it is telemetry, never a
 * reason to fail.
 */

const SYMBOLS = {
  nvmlInit_v2: { parameters: [], result: "i32" },
  nvmlDeviceGetHandleByPciBusId_v2: { parameters: ["buffer", "buffer"], result: "i32" },
  nvmlDeviceGetHandleByIndex_v2: { parameters: ["u32", "buffer"], result: "i32" },
  nvmlDeviceGetTemperature: { parameters: ["pointer", "i32", "buffer"], result: "i32" },
  nvmlDeviceGetUtilizationRates: { parameters: ["pointer", "buffer"], result: "i32" },
} as const;

export interface GpuTelemetry {
  temperatureC: number | null;
  utilizationPercent: number | null;
}

export const NO_TELEMETRY: GpuTelemetry = { temperatureC: null, utilizationPercent: null };

let nvml: Deno.DynamicLibrary<typeof SYMBOLS>["symbols"] | null | undefined;

function open(): Deno.DynamicLibrary<typeof SYMBOLS>["symbols"] | null {
  if (nvml !== undefined) return nvml;
  try {
    const lib = Deno.dlopen("libnvidia-ml.so.1", SYMBOLS);
    nvml = lib.symbols.nvmlInit_v2() === 0 ? lib.symbols : null;
  } catch {
    nvml = null;
  }
  return nvml;
}

/** Reads one GPU's telemetry, found by PCI bus id (or by index when the id is unknown). */
export function gpuTelemetry(pciBusId: string | null, index: number): GpuTelemetry {
  const n = open();
  if (!n) return NO_TELEMETRY;
  const handleBuf = new BigUint64Array(1);
  const hb = new Uint8Array(handleBuf.buffer);
  const rc = pciBusId
    ? n.nvmlDeviceGetHandleByPciBusId_v2(new TextEncoder().encode(pciBusId + "\0"), hb)
    : n.nvmlDeviceGetHandleByIndex_v2(index, hb);
  if (rc !== 0) return NO_TELEMETRY;
  const handle = Deno.UnsafePointer.create(handleBuf[0]);
  const temp = new Uint32Array(1);
  const util = new Uint32Array(2); // nvmlUtilization_t { gpu, memory }
  const t = n.nvmlDeviceGetTemperature(handle, 0, new Uint8Array(temp.buffer));
  const u = n.nvmlDeviceGetUtilizationRates(handle, new Uint8Array(util.buffer));
  return {
    temperatureC: t === 0 ? temp[0] : null,
    utilizationPercent: u === 0 ? util[0] : null,
  };
}
