/**
 * The CPU's instruction-set extensions, as /proc/cpuinfo lists them. A GGML_NATIVE build
 * compiles for the building host's extensions; a host lacking one of them would die of
 * SIGILL in the first kernel that uses it, so builds record them and hosts compare.
 */

/** Extensions a compiler's -march=native may use (x86 "flags", Arm "Features"). */
const ISA =
  /^(sse|ssse3|avx|fma|f16c|bmi|amx|popcnt|lzcnt|abm|movbe|aes|pclmulqdq|sha_ni|vaes|vpclmulqdq|gfni|adx|asimd|sve|i8mm|asimddp|fphp|bf16)/;

/** The ISA extensions in a /proc/cpuinfo text, sorted. */
export function parseCpuFlags(cpuinfo: string): string[] {
  const line = cpuinfo.split("\n").find((l) => /^(flags|Features)\s*:/.test(l));
  if (!line) return [];
  const flags = line.slice(line.indexOf(":") + 1).trim().split(/\s+/).filter((f) => ISA.test(f));
  return [...new Set(flags)].sort();
}

const LIBC_IO = {
  open: { parameters: ["buffer", "i32"], result: "i32" },
  read: { parameters: ["i32", "buffer", "usize"], result: "isize" },
  close: { parameters: ["i32"], result: "i32" },
} as const;

/**
 * Reads a /proc file through libc: Deno lets only --allow-all read /proc files, and the
 * neuron runs with --allow-ffi and --allow-read, not --allow-all.
 */
function readProcFile(path: string): string {
  const libc = Deno.dlopen("libc.so.6", LIBC_IO);
  try {
    const fd = libc.symbols.open(new TextEncoder().encode(path + "\0"), 0);
    if (fd < 0) throw new Error(`cannot open ${path}`);
    const chunks: Uint8Array[] = [];
    const buf = new Uint8Array(65536);
    for (;;) {
      const n = Number(libc.symbols.read(fd, buf, BigInt(buf.length)));
      if (n <= 0) break;
      chunks.push(buf.slice(0, n));
    }
    libc.symbols.close(fd);
    const all = new Uint8Array(chunks.reduce((a, c) => a + c.length, 0));
    let at = 0;
    for (const c of chunks) {
      all.set(c, at);
      at += c.length;
    }
    return new TextDecoder().decode(all);
  } finally {
    libc.close();
  }
}

/** This host's ISA extensions; null where /proc/cpuinfo cannot be read. */
export function hostCpuFlags(): string[] | null {
  for (
    const read of [
      () => Deno.readTextFileSync("/proc/cpuinfo"),
      () => readProcFile("/proc/cpuinfo"),
    ]
  ) {
    try {
      return parseCpuFlags(read());
    } catch {
      // not allowed this way: try the next
    }
  }
  return null;
}

/** Extensions a build needs that this host lacks. */
export function missingCpuFlags(built: string[], host: string[]): string[] {
  const have = new Set(host);
  return built.filter((f) => !have.has(f));
}
