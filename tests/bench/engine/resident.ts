/**
 * Resident memory of a process as /proc/<pid>/status reports it, and the messages of the
 * memory probe (memory_probe.ts) that measures the engine alone.
 */

import { z } from "zod";
import { RoundPromptsSchema, SetupSchema, ShapeSchema } from "./workload.ts";

/** Resident memory in bytes. */
export const ResidentSchema = z.object({
  rss: z.number(),
  /** Anonymous pages: heaps, malloc'd buffers (KV cache, compute buffer). */
  anon: z.number(),
  /** File-backed pages: the executable, shared libraries, the mmapped model. */
  file: z.number(),
  /** Peak RSS so far (VmHWM). */
  peak: z.number(),
});
export type Resident = z.infer<typeof ResidentSchema>;

/** Parses the kB fields of /proc/<pid>/status. */
export function parseStatus(text: string): Resident {
  const kb = (field: string): number => {
    const m = text.match(new RegExp(`^${field}:\\s+(\\d+) kB`, "m"));
    if (!m) throw new Error(`/proc status has no ${field} line`);
    return Number(m[1]) * 1024;
  };
  return { rss: kb("VmRSS"), anon: kb("RssAnon"), file: kb("RssFile"), peak: kb("VmHWM") };
}

export const ProbeInputSchema = z.object({
  setup: SetupSchema,
  shape: ShapeSchema,
  prompts: RoundPromptsSchema,
});
export type ProbeInput = z.infer<typeof ProbeInputSchema>;

export const ProbeOutputSchema = z.object({
  /** Deno with the benchmark modules imported, before the engine starts. */
  baseline: ResidentSchema,
  /** Engine started and the model loaded. */
  loaded: ResidentSchema,
  /** After one round of the benchmark workload. */
  afterWork: ResidentSchema,
});
export type ProbeOutput = z.infer<typeof ProbeOutputSchema>;
