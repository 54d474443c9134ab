/**
 * `deno task bench engine`: the engine against a plain FFI decode loop (the floor) and
 * node-llama-cpp under Node (the same llama.cpp build), on the bench fixture with equal
 * threads, in interleaved rounds so machine noise hits every peer alike. Also measures
 * the engine's memory beyond weights and KV cache in a process of its own.
 */

import { ensureFixture, FIXTURES } from "../fixtures/mod.ts";
import { EnginePeer } from "./engine/engine_peer.ts";
import { measureEngineMemory } from "./engine/memory.ts";
import { ensureNodeLlamaCpp, NodePeer } from "./engine/node_peer.ts";
import { optionsOrExitCode } from "./common/options.ts";
import { type BenchOptions, parseOptions } from "./engine/options.ts";
import { PlainPeer } from "./engine/plain_peer.ts";
import { screenedPrompts } from "./engine/screen.ts";
import {
  type BenchResult,
  compare,
  peerResult,
  renderReport,
  shortfalls,
  TARGETS,
} from "./engine/report.ts";
import {
  DEFAULT_SHAPE,
  FIGURES,
  type Peer,
  type RoundFigures,
  type RoundPrompts,
  type Setup,
  type Shape,
  tokensPerSecond,
} from "./engine/workload.ts";

const progress = (line: string) => console.error(`bench engine: ${line}`);

/** Starts the peers in table order (engine, plain loop, node-llama-cpp); notes what they run. */
async function startPeers(
  setup: Setup,
  opts: BenchOptions,
  peers: Peer[],
  notes: string[],
): Promise<{ plain: PlainPeer; node: NodePeer | null }> {
  const engine = await EnginePeer.start(setup);
  peers.push(engine);
  notes.push(`llama.cpp ${engine.engine.lib.version}: ${engine.engine.lib.systemInfo}`);
  // The floor runs over the very library the engine opened, in this process.
  const plain = await PlainPeer.start(engine.engine.lib, setup);
  peers.push(plain);
  if (opts.skipNode) return { plain, node: null };
  const node = await NodePeer.start(setup);
  peers.push(node);
  const r = node.ready;
  notes.push(
    `node-llama-cpp ${r.version} (${r.buildType} build, llama.cpp ${r.llamaCpp}, gpu ${r.gpu}), ` +
      `context ${r.contextSize}, batch ${r.batchSize}, threads ${r.threads}`,
  );
  return { plain, node };
}

/** One warm-up round, then `rounds` rounds with every peer in turn on the same prompts. */
async function runRounds(
  peers: Peer[],
  promptsFor: (round: number) => RoundPrompts,
  rounds: number,
  shape: Shape,
): Promise<Map<Peer, RoundFigures[]>> {
  progress(`warm-up (${peers.map((p) => p.name).join(", ")})`);
  const warm = promptsFor(-1);
  for (const p of peers) await p.round(warm, shape);
  const out = new Map<Peer, RoundFigures[]>(peers.map((p) => [p, []]));
  for (let i = 0; i < rounds; i++) {
    const prompts = promptsFor(i);
    const parts: string[] = [];
    for (const p of peers) {
      const figures = await p.round(prompts, shape);
      out.get(p)!.push(figures);
      parts.push(
        `${p.name} ${FIGURES.map((f) => tokensPerSecond(figures[f]).toFixed(0)).join("/")}`,
      );
    }
    progress(`round ${i + 1}/${rounds} tok/s prompt/1/4: ${parts.join(", ")}`);
  }
  return out;
}

const loadAverage = () => Deno.loadavg().map((x) => x.toFixed(2)).join(" ");

export async function main(args: string[]): Promise<number> {
  const opts = optionsOrExitCode(() => parseOptions(args));
  if (typeof opts === "number") return opts;
  const shape = DEFAULT_SHAPE;
  const setup: Setup = {
    modelPath: await ensureFixture(FIXTURES.bench),
    context: 1024,
    slots: shape.concurrent,
    nBatch: 512,
    threads: opts.threads,
  };
  if (!opts.skipNode) await ensureNodeLlamaCpp(undefined, progress);

  const notes: string[] = [];
  const peers: Peer[] = [];
  try {
    const { plain, node } = await startPeers(setup, opts, peers, notes);
    const src = plain.promptSource();
    const promptsFor = (round: number) => screenedPrompts(plain, src, round, shape);
    notes.push(
      `load average before the rounds: ${loadAverage()} (${navigator.hardwareConcurrency} CPUs)`,
    );
    const rounds = await runRounds(peers, promptsFor, opts.rounds, shape);
    notes.push(`load average after the rounds: ${loadAverage()}`);
    const memoryPrompts = opts.skipMemory ? null : promptsFor(opts.rounds);
    const nodeResident = node ? await node.memory() : null;
    const results = peers.map((p) => peerResult(p.name, rounds.get(p)!));
    const [engineResult, plainResult, nodeResult] = results;
    for (const r of results) notes.push(...shortfalls(r, shape));
    // The memory child runs after the peers are closed, so their memory and CPU stay out of it.
    for (const p of peers.splice(0).reverse()) await p.close();
    let memory = null;
    if (memoryPrompts) {
      progress("memory: engine alone in a child process");
      memory = await measureEngineMemory({ setup, shape, prompts: memoryPrompts });
    }
    const result: BenchResult = {
      setup,
      shape,
      rounds: opts.rounds,
      peers: results,
      comparisons: {
        plain: compare(engineResult, plainResult, TARGETS.plain),
        node: compare(engineResult, nodeResult, TARGETS.node),
      },
      memory,
      nodeResident,
      notes,
    };
    console.log(opts.json ? JSON.stringify(result, null, 2) : renderReport(result));
    return 0;
  } finally {
    for (const p of peers.reverse()) await p.close().catch(() => {});
  }
}

if (import.meta.main) Deno.exit(await main(Deno.args));
