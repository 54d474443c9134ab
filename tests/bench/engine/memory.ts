/**
 * The engine's memory beyond weights and KV cache: resident memory of a process that runs
 * only the engine (memory_probe.ts), minus the model file and the KV cache llama.cpp
 * reports allocating.
 */

import { type ProbeInput, type ProbeOutput, ProbeOutputSchema } from "./resident.ts";

const ROOT = decodeURIComponent(new URL("../../../", import.meta.url).pathname);
const PROBE = decodeURIComponent(new URL("./memory_probe.ts", import.meta.url).pathname);
const MIB = 1024 * 1024;

export const MEMORY_TARGET_BYTES = 80 * 1000 * 1000;

/** Buffer sizes llama.cpp logs while creating a context, in bytes. */
export interface BufferSizes {
  kv: number;
  compute: number;
  output: number;
}

/** Sums the KV, compute and output buffer sizes from llama.cpp's context-creation log. */
export function parseBufferSizes(log: string): BufferSizes {
  const sum = (re: RegExp) => {
    let total = 0;
    let found = false;
    for (const m of log.matchAll(re)) {
      total += Number(m[1]) * MIB;
      found = true;
    }
    return found ? total : undefined;
  };
  const kv = sum(/llama_kv_cache: size =\s+([\d.]+) MiB/g);
  const compute = sum(/sched_reserve:\s+\S+ compute buffer size =\s+([\d.]+) MiB/g);
  const output = sum(/llama_context:\s+\S+\s+output buffer size =\s+([\d.]+) MiB/g);
  if (kv === undefined) throw new Error("llama.cpp's log has no `llama_kv_cache: size =` line");
  return { kv, compute: compute ?? 0, output: output ?? 0 };
}

export interface MemoryReport {
  modelFileBytes: number;
  buffers: BufferSizes;
  probe: ProbeOutput;
  /** RSS after the workload − model file − KV cache: the figure the target applies to. */
  beyondBytes: number;
  /** The same right after loading, before any request. */
  beyondAfterLoadBytes: number;
  /** Private (anonymous) memory after the workload − KV cache: leaves out the Deno and
   * llama.cpp executables' resident code, which is shared file-backed memory. */
  anonBeyondBytes: number;
  targetBytes: number;
  pass: boolean;
}

export function memoryReport(
  probe: ProbeOutput,
  buffers: BufferSizes,
  modelFileBytes: number,
): MemoryReport {
  const beyondBytes = probe.afterWork.rss - modelFileBytes - buffers.kv;
  return {
    modelFileBytes,
    buffers,
    probe,
    beyondBytes,
    beyondAfterLoadBytes: probe.loaded.rss - modelFileBytes - buffers.kv,
    anonBeyondBytes: probe.afterWork.anon - buffers.kv,
    targetBytes: MEMORY_TARGET_BYTES,
    pass: beyondBytes < MEMORY_TARGET_BYTES,
  };
}

/** Runs the probe in a fresh Deno process and reports what the engine costs beyond the model. */
export async function measureEngineMemory(input: ProbeInput): Promise<MemoryReport> {
  const child = new Deno.Command(Deno.execPath(), {
    // Deno lets only --allow-all read /proc/self/status.
    args: ["run", "--allow-all", PROBE],
    cwd: ROOT,
    env: { CORTEX_LOG: "debug" },
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const writer = child.stdin.getWriter();
  await writer.write(new TextEncoder().encode(JSON.stringify(input)));
  await writer.close();
  const out = await child.output();
  const stdout = new TextDecoder().decode(out.stdout);
  const stderr = new TextDecoder().decode(out.stderr);
  if (!out.success) {
    throw new Error(`memory probe failed (exit ${out.code}):\n${stderr.slice(-4000)}`);
  }
  const line = stdout.trim().split("\n").at(-1) ?? "";
  const probe = ProbeOutputSchema.parse(JSON.parse(line));
  const size = (await Deno.stat(input.setup.modelPath)).size;
  return memoryReport(probe, parseBufferSizes(stderr), size);
}
