/**
 * CPU time a process spent (user + system, all threads), from /proc. Under a busy machine
 * a proxy's CPU per request is steadier than its throughput: it is what the throughput
 * would be bounded by on a core of its own.
 */

let ticksPerS: number | undefined;

async function clockTicks(): Promise<number> {
  if (ticksPerS === undefined) {
    try {
      const out = await new Deno.Command("getconf", { args: ["CLK_TCK"], stdout: "piped" })
        .output();
      ticksPerS = Number(new TextDecoder().decode(out.stdout).trim()) || 100;
    } catch {
      ticksPerS = 100; // Linux's USER_HZ nearly everywhere
    }
  }
  return ticksPerS;
}

/** utime + stime from the text of /proc/<pid>/stat, in clock ticks. */
export function parseStatTicks(stat: string): number {
  // The command name (field 2) may hold spaces and parentheses: count from its closing one.
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  // fields[0] is field 3 (state); utime and stime are fields 14 and 15.
  return Number(fields[11]) + Number(fields[12]);
}

/** The text of /proc/<pid>/<file>; null when it cannot be read (not Linux, gone). */
export async function readProc(pid: number, file: string): Promise<string | null> {
  try {
    // Deno grants /proc only with --allow-all; `cat` needs just --allow-run.
    const out = await new Deno.Command("cat", {
      args: [`/proc/${pid}/${file}`],
      stdout: "piped",
      stderr: "null",
    }).output();
    return out.success ? new TextDecoder().decode(out.stdout) : null;
  } catch {
    return null;
  }
}

/** CPU milliseconds the process used so far; null when it cannot be read (not Linux, gone). */
export async function cpuMs(pid: number | null): Promise<number | null> {
  if (pid === null) return null;
  const stat = await readProc(pid, "stat");
  if (stat === null) return null;
  const ticks = parseStatTicks(stat);
  return Number.isFinite(ticks) ? (ticks * 1000) / await clockTicks() : null;
}

/** CPU milliseconds of several processes together; null when any cannot be read. */
export async function cpuMsOf(pids: number[]): Promise<number | null> {
  const each = await Promise.all(pids.map(cpuMs));
  return each.some((v) => v === null) ? null : each.reduce((a, b) => a! + b!, 0);
}
