import { assertEquals, assertThrows } from "../../assert.ts";
import { memoryReport, parseBufferSizes } from "./memory.ts";
import { parseStatus } from "./resident.ts";

const MIB = 1024 * 1024;

const LOG = `
2026-11-27T07:35:38.152Z DEBUG llama.cpp: llama_context:        CPU  output buffer size =     0.02 MiB
2026-11-27T07:35:38.152Z DEBUG llama.cpp: llama_kv_cache:        CPU KV buffer size =    32.00 MiB
2026-11-27T07:35:38.152Z DEBUG llama.cpp: llama_kv_cache: size =   32.00 MiB (  4096 cells,   8 layers,  4/1 seqs), K (f16):   16.00 MiB, V (f16):   16.00 MiB
2026-11-27T07:35:38.160Z DEBUG llama.cpp: sched_reserve:        CPU compute buffer size =    17.01 MiB
2026-11-27T07:35:40.000Z DEBUG llama.cpp: ~llama_context:        CPU compute buffer size is  17.0137 MiB, matches expectation of  17.0137 MiB
`;

Deno.test("buffer sizes come from llama.cpp's context log, each counted once", () => {
  const b = parseBufferSizes(LOG);
  assertEquals(b.kv, 32 * MIB);
  assertEquals(b.compute, 17.01 * MIB);
  assertEquals(b.output, 0.02 * MIB);
});

Deno.test("a log without the KV line is an error, not a zero", () => {
  assertThrows(() => parseBufferSizes("nothing here"), /llama_kv_cache/);
});

Deno.test("/proc status fields are read in bytes", () => {
  const r = parseStatus(
    "Name:\tdeno\nVmHWM:\t  200 kB\nVmRSS:\t  150 kB\nRssAnon:\t  100 kB\nRssFile:\t   50 kB\n",
  );
  assertEquals(r, { rss: 150 * 1024, anon: 100 * 1024, file: 50 * 1024, peak: 200 * 1024 });
  assertThrows(() => parseStatus("VmRSS:\t1 kB\n"), /RssAnon/);
});

Deno.test("memory beyond weights and KV subtracts the model file and the KV cache", () => {
  const at = (rss: number, anon: number) => ({ rss, anon, file: rss - anon, peak: rss });
  const probe = { baseline: at(50e6, 20e6), loaded: at(150e6, 60e6), afterWork: at(170e6, 80e6) };
  const r = memoryReport(probe, { kv: 30e6, compute: 10e6, output: 0 }, 60e6);
  assertEquals(r.beyondBytes, 80e6);
  assertEquals(r.beyondAfterLoadBytes, 60e6);
  assertEquals(r.anonBeyondBytes, 50e6);
  assertEquals(r.pass, false); // the target is strictly under 80 MB
  assertEquals(memoryReport(probe, { kv: 31e6, compute: 0, output: 0 }, 60e6).pass, true);
});
