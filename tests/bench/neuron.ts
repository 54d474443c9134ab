/**
 * `deno task bench neuron`: what the neuron's HTTP layer costs. The same model (the bench
 * fixture) runs in a real neuron process, driven with streamed chat completions, and in an
 * engine in this process (`Engine.stream`, what the HTTP layer calls); both greedy on the
 * same prompts, one slot, equal threads, request by request in alternating order.
 */

import { ensureFixture, FIXTURES, fixtureVocab } from "../fixtures/mod.ts";
import { InProcessPeer } from "./neuron/engine_peer.ts";
import { HttpPeer, type NeuronSetup } from "./neuron/http_peer.ts";
import { optionsOrExitCode } from "./common/options.ts";
import { parseOptions } from "./neuron/options.ts";
import {
  type Pair,
  type Pairs,
  rateSummary,
  renderReport,
  summarize,
  ttftSummary,
} from "./neuron/report.ts";
import { type BenchPrompt, type Peer, promptTexts, type RequestSpec } from "./neuron/workload.ts";

const progress = (line: string) => console.error(`bench neuron: ${line}`);

/** Bans every end-of-generation token so each long request runs to max_tokens. */
function banEndOfGeneration(): Record<number, number> {
  const vocab = fixtureVocab(FIXTURES.bench);
  const bias: Record<number, number> = {};
  for (const t of vocab.variant.eog) {
    const id = vocab.tokens.indexOf(t);
    if (id >= 0) bias[id] = -100;
  }
  return bias;
}

/** The same request to both peers, back to back; `flip` chooses who goes first. */
async function pair(
  http: Peer,
  engine: Peer,
  spec: RequestSpec,
  flip: boolean,
): Promise<Pair> {
  if (flip) {
    const e = await engine.run(spec);
    return { http: await http.run(spec), engine: e };
  }
  const h = await http.run(spec);
  return { http: h, engine: await engine.run(spec) };
}

/** One round: new-prompt and repeated-prompt one-token pairs, then long-stream pairs. */
async function round(
  http: Peer,
  engine: Peer,
  prompts: BenchPrompt[],
  opts: { ttftRequests: number; genRequests: number; maxTokens: number },
  logitBias: Record<number, number>,
  r: number,
  into: Pairs,
): Promise<void> {
  const spec = (prompt: BenchPrompt, maxTokens: number): RequestSpec => ({
    prompt,
    maxTokens,
    logitBias,
  });
  let n = 0;
  const flip = () => (r + n++) % 2 === 1;
  for (let i = 0; i < opts.ttftRequests; i++) {
    const p = spec(prompts[(r * opts.ttftRequests + i) % prompts.length], 1);
    into.fresh.push(await pair(http, engine, p, flip()));
  }
  // The last prompt again and again: the slot's cache holds it, so TTFT is one decode step.
  const last = spec(prompts[(r * opts.ttftRequests + opts.ttftRequests - 1) % prompts.length], 1);
  for (let i = 0; i < opts.ttftRequests; i++) {
    into.repeated.push(await pair(http, engine, last, flip()));
  }
  for (let i = 0; i < opts.genRequests; i++) {
    into.gen.push(
      await pair(http, engine, spec(prompts[i % prompts.length], opts.maxTokens), flip()),
    );
  }
}

export async function main(args: string[]): Promise<number> {
  const opts = optionsOrExitCode(() => parseOptions(args));
  if (typeof opts === "number") return opts;
  const setup: NeuronSetup = {
    modelPath: await ensureFixture(FIXTURES.bench),
    context: 1024,
    nBatch: 512,
    threads: opts.threads,
  };
  const peers: Peer[] = [];
  try {
    progress("starting a neuron process and an in-process engine");
    const http = await HttpPeer.start(setup);
    peers.push(http);
    const engine = await InProcessPeer.start(setup);
    peers.push(engine);
    const prompts = promptTexts(8).map((text) => engine.prompt(text));
    const logitBias = banEndOfGeneration();
    const notes: string[] = [];
    const loadavg = () => Deno.loadavg().map((x) => x.toFixed(2)).join(" ");
    notes.push(`load average before: ${loadavg()} (${navigator.hardwareConcurrency} CPUs)`);

    progress("warm-up");
    const warm: Pairs = { fresh: [], repeated: [], gen: [] };
    await round(
      http,
      engine,
      prompts,
      { ttftRequests: 2, genRequests: 1, maxTokens: 16 },
      logitBias,
      0,
      warm,
    );

    const pairs: Pairs = { fresh: [], repeated: [], gen: [] };
    for (let r = 0; r < opts.rounds; r++) {
      const from = { fresh: pairs.fresh.length, gen: pairs.gen.length };
      await round(http, engine, prompts, opts, logitBias, r, pairs);
      const rate = rateSummary(pairs.gen.slice(from.gen));
      const fresh = ttftSummary(pairs.fresh.slice(from.fresh));
      const repeated = ttftSummary(pairs.repeated.slice(from.fresh));
      progress(
        `round ${r + 1}/${opts.rounds}: tok/s http ${rate.http.toFixed(1)} vs ` +
          `${rate.engine.toFixed(1)}; TTFT p50 new ${fresh.http.toFixed(2)} vs ` +
          `${fresh.engine.toFixed(2)} ms, repeated ${repeated.http.toFixed(2)} vs ` +
          `${repeated.engine.toFixed(2)} ms`,
      );
    }
    notes.push(`load average after: ${loadavg()}`);

    // Both peers must have run the same work, or the comparison means nothing.
    const all = [...pairs.fresh, ...pairs.repeated, ...pairs.gen];
    const differ = all.filter((p) =>
      p.http.promptTokens !== p.engine.promptTokens ||
      p.http.completionTokens !== p.engine.completionTokens
    );
    if (differ.length) {
      notes.push(
        `${differ.length} pairs differ in prompt/completion tokens: the HTTP prompt is not the tokenized one`,
      );
    }
    const short = pairs.gen.filter((p) => p.engine.completionTokens !== opts.maxTokens);
    if (short.length) notes.push(`${short.length} long requests stopped before max_tokens`);

    const result = summarize(pairs, {
      setup: {
        model: `bench fixture (${setup.modelPath.split("/").pop()})`,
        context: setup.context,
        threads: setup.threads,
        maxTokens: opts.maxTokens,
      },
      rounds: opts.rounds,
      notes,
    });
    console.log(opts.json ? JSON.stringify(result, null, 2) : renderReport(result));
    return 0;
  } finally {
    for (const p of peers.reverse()) await p.close().catch(() => {});
  }
}

if (import.meta.main) Deno.exit(await main(Deno.args));
