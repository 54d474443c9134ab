/**
 * `deno task bench neuron [--against engine|llama-server|prebuilt]`, on the bench fixture:
 *
 * - engine (default): what the neuron's HTTP layer costs. The same model runs in a real neuron
 *   process, driven with streamed chat completions, and in an engine in this process
 *   (`Engine.stream`, what the HTTP layer calls); both greedy on the same prompts, one slot,
 *   equal threads, request by request in alternating order.
 * - llama-server: the neuron over HTTP against llama-server over HTTP, both on the native
 *   build `deno task llama-build --peer` made (same libraries, same kernels), same threads,
 *   slots, context and batch; bursts of 1 and 4 streams (neuron/serving.ts).
 * - prebuilt: the neuron on the npm prebuilt against the neuron on the native build, the same
 *   bursts.
 */

import { ensureFixture, FIXTURES, fixtureVocab, type ModelOptions } from "../fixtures/mod.ts";
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
import type { NeuronBenchOptions } from "./neuron/options.ts";
import { LlamaServerPeer } from "./neuron/llama_server_peer.ts";
import {
  burst,
  renderServing,
  type RoundBursts,
  type ServingPeer,
  servingPrompt,
  type ServingReport,
  summarizeServing,
} from "./neuron/serving.ts";
import { checkBuild } from "../../neuron/llama/local_builds.ts";
import { nativeBuild } from "./common/native_build.ts";
import {
  findFile,
  NAMES,
  prebuiltLibraryDirs,
  SUPPORTED_VERSIONS,
} from "../../neuron/llama/library.ts";
import { hostCpuFlags } from "../../neuron/llama/cpu_flags.ts";

const progress = (line: string) => console.error(`bench neuron: ${line}`);

/** Bans every end-of-generation token of a fixture so each long request runs to max_tokens. */
function banEndOfGeneration(model?: ModelOptions, bytes = false): Record<number, number> {
  const vocab = fixtureVocab(model ?? FIXTURES.bench);
  const bias: Record<number, number> = {};
  // Byte tokens too where asked: random weights string them into invalid UTF-8, on which
  // llama-server's chat output parser fails the request.
  if (bytes) {
    vocab.tokens.forEach((t, id) => {
      if (/^<0x[0-9A-F]{2}>$/.test(t)) bias[id] = -100;
    });
  }
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
  if (opts.against !== "engine") return await runServing(opts);
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

/**
 * The bench fixture's size without reasoning markers: llama-server parses streamed output
 * against the chat template's format and fails a request whose output does not parse (random
 * weights' thinking markers and invalid UTF-8 did); with no markers and byte tokens banned both
 * servers stream plain text. A --model is taken to be such a fixture too (tests/gpu's).
 */
const SERVING_FIXTURE: ModelOptions = { family: "chatml", reasoning: "none", size: "bench" };

async function runServing(opts: NeuronBenchOptions): Promise<number> {
  const vsServer = opts.against === "llama-server";
  const build = opts.build ?? nativeBuild(vsServer);
  if (!build) {
    console.error(
      `bench neuron: no verified native llama.cpp build${vsServer ? " with llama-server" : ""} ` +
        `in the cache: run \`deno task llama-build${vsServer ? " --peer" : ""}\` (or pass --build)`,
    );
    return 1;
  }
  const manifest = checkBuild(build, SUPPORTED_VERSIONS, hostCpuFlags());
  const CONCURRENCY = opts.concurrency;
  const SLOTS = Math.max(...CONCURRENCY);
  const setup: NeuronSetup = {
    modelPath: opts.model ?? await ensureFixture(SERVING_FIXTURE),
    context: Math.max(1024, Math.ceil((opts.promptTokens + opts.maxTokens + 64) / 256) * 256),
    nBatch: opts.nBatch,
    threads: opts.threads,
    slots: SLOTS,
    gpu: "manifest" in manifest && manifest.manifest.backend === "cuda",
  };
  const closers: (() => Promise<void>)[] = [];
  try {
    let ours: ServingPeer & { library(): Promise<{ dir: string }> };
    let theirs: ServingPeer;
    let labels: [string, string];
    if (vsServer) {
      progress(`starting a neuron and llama-server, both on ${build}`);
      const n = await HttpPeer.start({ ...setup, libraryPath: build });
      closers.push(() => n.close());
      const l = await LlamaServerPeer.start(`${build}/llama-server`, setup);
      closers.push(() => l.close());
      [ours, theirs, labels] = [n, l, ["neuron", "llama-server"]];
    } else {
      const npm = prebuiltLibraryDirs().find((p) => findFile(p.dir, NAMES.llama));
      if (!npm) throw new Error("no npm prebuilt llama.cpp: run `deno install`");
      progress(`starting a neuron on ${build} and one on ${npm.dir}`);
      const native = await HttpPeer.start({ ...setup, libraryPath: build });
      closers.push(() => native.close());
      const prebuilt = await HttpPeer.start({ ...setup, libraryPath: npm.dir });
      closers.push(() => prebuilt.close());
      [ours, theirs, labels] = [native, prebuilt, ["native", "prebuilt"]];
    }
    const lib = await ours.library();
    if (lib.dir !== build) throw new Error(`the neuron runs ${lib.dir}, not ${build}`);
    const logitBias = banEndOfGeneration(SERVING_FIXTURE, true);
    const specs = (c: number, tokens: number, maxTokens: number, salt: string): RequestSpec[] =>
      Array.from({ length: c }, (_, i) => {
        const text = servingPrompt(tokens, `${salt}i${i}`);
        return { prompt: { text, rendered: text, addSpecial: false }, maxTokens, logitBias };
      });
    const notes: string[] = [];
    const loadavg = () => Deno.loadavg().map((x) => x.toFixed(2)).join(" ");
    notes.push(`load average before: ${loadavg()} (${navigator.hardwareConcurrency} CPUs)`);

    progress("warm-up");
    for (const c of CONCURRENCY) {
      for (const p of [ours, theirs]) await burst(p, specs(c, 32, 8, `warm${p.name}${c}`));
    }
    const rounds: RoundBursts[] = [];
    for (let r = 0; r < opts.rounds; r++) {
      const round: RoundBursts = new Map();
      for (const c of CONCURRENCY) {
        // The same fresh prompts to both, in alternating order.
        const s = specs(c, opts.promptTokens, opts.maxTokens, `r${r}c${c}`);
        const first = (r + c) % 2 === 0;
        const a = first ? await burst(ours, s) : undefined;
        const b = await burst(theirs, s);
        const o = a ?? await burst(ours, s);
        round.set(c, [o, b]);
        progress(
          `round ${r + 1}/${opts.rounds}, ${c} stream(s): prompt tok/s ${
            o.promptTokS.toFixed(0)
          } ` +
            `vs ${b.promptTokS.toFixed(0)}, TTFT ${o.ttftMs.toFixed(0)} vs ${
              b.ttftMs.toFixed(0)
            } ` +
            `ms, generation tok/s ${o.genTokS.toFixed(1)} vs ${b.genTokS.toFixed(1)}`,
        );
        if (o.promptTokens !== b.promptTokens) {
          notes.push(
            `round ${r + 1}, ${c} stream(s): prompt tokens differ ` +
              `(${o.promptTokens} vs ${b.promptTokens}): the chat templates render differently`,
          );
        }
        for (const [name, x] of [[labels[0], o], [labels[1], b]] as const) {
          if (x.completionTokens !== c * opts.maxTokens) {
            notes.push(
              `round ${r + 1}: ${name} generated ${x.completionTokens} tokens, not ${
                c * opts.maxTokens
              }`,
            );
          }
        }
      }
      rounds.push(round);
    }
    notes.push(`load average after: ${loadavg()}`);
    const rows = summarizeServing(rounds, CONCURRENCY);
    notes.unshift(
      `prompt tokens per request (median): ${rows[0].ours.promptTokens / rows[0].concurrency}`,
    );
    const targets = vsServer
      ? rows.flatMap((row) => {
        const s = `${row.concurrency} stream${row.concurrency > 1 ? "s" : ""}`;
        return [
          {
            name: `prompt tok/s, ${s}, neuron/llama-server`,
            value: row.ratio.promptTokS,
            limit: 0.95,
          },
          { name: `TTFT, ${s}, llama-server/neuron`, value: row.ratio.ttftMs, limit: 0.95 },
          {
            name: `generation tok/s, ${s}, neuron/llama-server`,
            value: row.ratio.genTokS,
            limit: 0.95,
          },
        ];
      })
      : rows.map((row) => ({
        name: `prompt tok/s, ${row.concurrency} stream(s), native/prebuilt`,
        value: row.ratio.promptTokS,
        limit: 1.3,
      }));
    const report: ServingReport = {
      title: `bench neuron --against ${opts.against}: ${opts.model ? "" : "bench-size fixture "}(${
        setup.modelPath.split("/").pop()
      }${
        setup.gpu ? ", all layers on the GPU" : ""
      }), ${SLOTS} slots × ${setup.context} context, ${setup.threads} thread(s), n_batch ${setup.nBatch}`,
      lines: [
        `~${opts.promptTokens}-token fresh prompts, ${opts.maxTokens} generated tokens each ` +
        `(end of generation banned), greedy, streamed; ${opts.rounds} interleaved rounds, medians`,
        vsServer
          ? `both on ${build} (llama-server from the same build)`
          : `native: ${build}; prebuilt: the npm package's, as the neuron picks its CPU variant`,
      ],
      labels,
      rows,
      targets,
      notes,
    };
    console.log(opts.json ? JSON.stringify(report, null, 2) : renderServing(report));
    return 0;
  } finally {
    for (const close of closers.reverse()) await close().catch(() => {});
  }
}

if (import.meta.main) Deno.exit(await main(Deno.args));
