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

/** This host's ISA extensions; empty where /proc/cpuinfo cannot be read. */
export function hostCpuFlags(): string[] {
  try {
    return parseCpuFlags(Deno.readTextFileSync("/proc/cpuinfo"));
  } catch {
    return [];
  }
}

/** Extensions a build needs that this host lacks. */
export function missingCpuFlags(built: string[], host: string[]): string[] {
  const have = new Set(host);
  return built.filter((f) => !have.has(f));
}
