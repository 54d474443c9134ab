/**
 * A process's resident memory (VmRSS in /proc/<pid>/status): before a measurement, its peak
 * while the streams are open (sampled), and some seconds after they end — whether the proxy
 * gives back what 1,024 streams made it take.
 */

import { readProc } from "./cpu.ts";

/** VmRSS in KiB from the text of /proc/<pid>/status; NaN when absent. */
export function parseVmRssKiB(status: string): number {
  const m = /^VmRSS:\s+(\d+)\s+kB$/m.exec(status);
  return m ? Number(m[1]) : NaN;
}

/** The process's RSS in KiB now; NaN when it cannot be read. */
export async function rssKiB(pid: number | null): Promise<number> {
  if (pid === null) return NaN;
  const status = await readProc(pid, "status");
  return status === null ? NaN : parseVmRssKiB(status);
}

/** Samples the RSS every `everyMs` until stopped; `stop()` gives the largest sample. */
export function sampleRssPeak(pid: number | null, everyMs = 250): { stop(): Promise<number> } {
  let peak = NaN;
  let running = true;
  const loop = (async () => {
    while (running) {
      const v = await rssKiB(pid);
      if (!(v <= peak)) peak = Number.isNaN(v) ? peak : v;
      if (running) await new Promise((r) => setTimeout(r, everyMs));
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
      // One more sample: a short window may have ended before the first one.
      const v = await rssKiB(pid);
      return Number.isNaN(v) || v <= peak ? peak : v;
    },
  };
}
