/**
 * Child process of the engine benchmark that runs only the engine, so that the other
 * peers' models and buffers do not count: it reads `{setup, shape, prompts}` as JSON on
 * stdin, loads the model, runs one round, and prints its memory at each stage as one
 * JSON line. Run it with CORTEX_LOG=debug so llama.cpp's buffer sizes reach stderr, and
 * with --allow-all (Deno's condition for reading /proc/self/status).
 */

import { EnginePeer } from "./engine_peer.ts";
import { parseStatus, ProbeInputSchema, type ProbeOutput } from "./resident.ts";

const resident = () => parseStatus(Deno.readTextFileSync("/proc/self/status"));

async function main(): Promise<void> {
  const text = await new Response(Deno.stdin.readable).text();
  const input = ProbeInputSchema.parse(JSON.parse(text));
  const baseline = resident();
  const peer = await EnginePeer.start(input.setup);
  try {
    const loaded = resident();
    await peer.round(input.prompts, input.shape);
    const afterWork = resident();
    const out: ProbeOutput = { baseline, loaded, afterWork };
    console.log(JSON.stringify(out));
  } finally {
    await peer.close();
  }
}

if (import.meta.main) await main();
