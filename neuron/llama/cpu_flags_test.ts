import { assertEquals } from "../../tests/assert.ts";
import { missingCpuFlags, parseCpuFlags } from "./cpu_flags.ts";

Deno.test("cpu flags: the instruction-set extensions of /proc/cpuinfo, x86 and Arm", () => {
  const x86 = "processor\t: 0\nflags\t\t: fpu vme sse sse2 ssse3 fma avx avx2 avx512f avx512bw " +
    "f16c bmi2 hypervisor amx_tile avx_vnni\nbugs\t\t: spectre\n";
  assertEquals(parseCpuFlags(x86), [
    "amx_tile",
    "avx",
    "avx2",
    "avx512bw",
    "avx512f",
    "avx_vnni",
    "bmi2",
    "f16c",
    "fma",
    "sse",
    "sse2",
    "ssse3",
  ]);
  assertEquals(parseCpuFlags("Features\t: fp asimd evtstrm aes sve i8mm\n"), [
    "aes",
    "asimd",
    "i8mm",
    "sve",
  ]);
  assertEquals(parseCpuFlags("nothing here"), []);
});

Deno.test("cpu flags: what a build needs and the host lacks", () => {
  assertEquals(missingCpuFlags(["avx2", "avx512f"], ["avx", "avx2"]), ["avx512f"]);
  assertEquals(missingCpuFlags(["avx2"], ["avx2", "avx512f"]), []);
});
