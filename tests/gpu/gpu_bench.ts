/**
 * Throughput of the neuron engine (llama.cpp through FFI, in a device worker) on one model:
 * prompt and generation tok/s for one stream and for N concurrent ones, in the terms of
 * llama.cpp's llama-batched-bench (see bench_round.ts). Run by tests/gpu/run_gpu_bench.sh on a
 * GPU host; `--cpu` runs the same path on the CPU with the tiny fixture model.
 *
 *   deno run --allow-read --allow-write --allow-env --allow-ffi --allow-sys \
 *     tests/gpu/gpu_bench.ts --lib /path/to/llama/bin [options]
 *
 * The model is a generated fixture (random F16 weights, llama architecture) cached by its
 * dimensions under --model-dir. Exit codes: 0 done, 1 failure, 2 bad usage, 3 deadline passed.
 */

import { parseArgs } from "node:util";
import { Engine } from "../../neuron/engine/engine.ts";
import type { SamplingParams } from "../../neuron/engine/types.ts";
import {
  ensureFixture,
  fixturePath,
  type ModelDims,
  type ModelOptions,
  resolveModelSpec,
} from "../fixtures/mod.ts";
import { createPrng } from "../fixtures/prng.ts";
import { meanRounds, type RoundResult, runRound } from "./bench_round.ts";

/** Llama-3-8B's shape without its 128k vocabulary: 32 × 436 MB of F16 weights, ~14 GB. */
export const GPU_DIMS = { nEmbd: 4096, nLayer: 32, nHead: 32, nHeadKv: 8, nFf: 14336 };

export interface BenchOptions {
  cpu: boolean;
  /** llama.cpp library folder; absent = the bundled prebuilt (CPU). */
  lib?: string;
  /** Where generated models are cached; absent = the fixture cache. */
  modelDir?: string;
  model: ModelOptions;
  prompt: number;
  gen: number;
  parallel: number;
  reps: number;
  nBatch: number;
  threads: number;
  generateOnly: boolean;
  json?: string;
  deadlineS: number;
  verbose: boolean;
}

export class UsageError extends Error {
  override name = "UsageError";
}

export const USAGE = `Usage: gpu_bench.ts [options]

  --cpu               run on the CPU with the tiny fixture model (a smoke test of this driver)
  --lib <dir>         llama.cpp libraries (libllama.so, libggml*.so); default: bundled CPU build
  --model-dir <dir>   where generated models are cached (default: tests/fixtures/.cache)
  --n-embd, --n-layer, --n-head, --n-head-kv, --n-ff <n>
                      model dimensions (GPU default ${GPU_DIMS.nEmbd}/${GPU_DIMS.nLayer}/${GPU_DIMS.nHead}/${GPU_DIMS.nHeadKv}/${GPU_DIMS.nFf}; --cpu: the tiny fixture)
  --prompt <n>        prompt tokens per request (GPU 512, --cpu 64)
  --gen <n>           generated tokens per request (GPU 128, --cpu 16)
  --parallel <n>      concurrent requests in the batched round (8)
  --reps <n>          repetitions of each round, averaged (GPU 2, --cpu 1)
  --n-batch <n>       tokens per decode step, n_batch = n_ubatch (GPU 2048, --cpu 512)
  --threads <n>       CPU threads (GPU min(8, cores), --cpu 1)
  --generate-only     write the model (if missing) and exit
  --json <path>       also write the results as JSON
  --deadline <s>      give up after this many seconds (300)
  --verbose           llama.cpp's info log
  -h, --help          show this help`;

const INT_FLAGS = [
  "n-embd",
  "n-layer",
  "n-head",
  "n-head-kv",
  "n-ff",
  "prompt",
  "gen",
  "parallel",
  "reps",
  "n-batch",
  "threads",
  "deadline",
] as const;

function positiveInt(flag: string, v: string): number {
  const n = Number(v);
  if (!/^\d+$/.test(v) || !Number.isSafeInteger(n) || n < 1) {
    throw new UsageError(`--${flag}: expected a positive integer, got "${v}"`);
  }
  return n;
}

/** Parses the command line; null means --help. Throws UsageError naming the bad flag. */
export function parseCli(args: string[]): BenchOptions | null {
  let values;
  try {
    values = parseArgs({
      args,
      strict: true,
      allowPositionals: false,
      options: {
        cpu: { type: "boolean" },
        lib: { type: "string" },
        "model-dir": { type: "string" },
        "generate-only": { type: "boolean" },
        json: { type: "string" },
        verbose: { type: "boolean" },
        help: { type: "boolean", short: "h" },
        ...Object.fromEntries(INT_FLAGS.map((f) => [f, { type: "string" as const }])),
      },
    }).values;
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  if (values.help) return null;
  const n: Partial<Record<(typeof INT_FLAGS)[number], number>> = {};
  for (const f of INT_FLAGS) {
    const v = (values as Record<string, unknown>)[f];
    if (typeof v === "string") n[f] = positiveInt(f, v);
  }
  const cpu = values.cpu ?? false;
  const base = cpu ? { size: "tiny" as const } : { size: "bench" as const, ...GPU_DIMS };
  const model: ModelOptions = {
    ...base,
    family: "chatml",
    reasoning: "none",
    ...(n["n-embd"] ? { nEmbd: n["n-embd"] } : {}),
    ...(n["n-layer"] ? { nLayer: n["n-layer"] } : {}),
    ...(n["n-head"] ? { nHead: n["n-head"] } : {}),
    ...(n["n-head-kv"] ? { nHeadKv: n["n-head-kv"] } : {}),
    ...(n["n-ff"] ? { nFf: n["n-ff"] } : {}),
  };
  return {
    cpu,
    lib: values.lib,
    modelDir: values["model-dir"],
    model,
    prompt: n.prompt ?? (cpu ? 64 : 512),
    gen: n.gen ?? (cpu ? 16 : 128),
    parallel: n.parallel ?? 8,
    reps: n.reps ?? (cpu ? 1 : 2),
    nBatch: n["n-batch"] ?? (cpu ? 512 : 2048),
    threads: n.threads ?? (cpu ? 1 : Math.min(8, navigator.hardwareConcurrency)),
    generateOnly: values["generate-only"] ?? false,
    json: values.json,
    deadlineS: n.deadline ?? 300,
    verbose: values.verbose ?? false,
  };
}

const secs = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
const gb = (bytes: number) => `${(bytes / 1e9).toFixed(2)} GB`;
const count = (n: number) => n >= 1e9 ? `${(n / 1e9).toFixed(2)} B` : `${(n / 1e6).toFixed(2)} M`;

/** Finds the model for `o.model` in the cache, generating it first when missing. */
async function prepareModel(o: BenchOptions, log: (s: string) => void): Promise<string> {
  const where = o.modelDir ? { cacheDir: o.modelDir } : {};
  const path = fixturePath(o.model, where);
  if (await Deno.stat(path).then(() => true, () => false)) {
    log(`model: ${path} (cached)`);
    return path;
  }
  log(`model: generating ${path} ...`);
  const t0 = performance.now();
  await ensureFixture(o.model, where);
  const { size } = await Deno.stat(path);
  const ms = performance.now() - t0;
  log(`model: wrote ${gb(size)} in ${secs(ms)} (${(size / 1e6 / (ms / 1000)).toFixed(0)} MB/s)`);
  return path;
}

/** Fresh random prompts drawn from ordinary (non-special) tokens; `salt` keeps rounds apart. */
function makePrompts(pool: number[], count: number, length: number, salt: number): number[][] {
  return Array.from({ length: count }, (_, i) => {
    const prng = createPrng(salt * 1000 + i, "gpu-bench-prompt");
    return Array.from({ length }, () => pool[prng.nextU32() % pool.length]);
  });
}

const POOL_TEXT = "The quick brown fox jumps over the lazy dog while seven wizards quietly judge " +
  "boxing matches; pack my box with five dozen liquor jugs, 0123456789 and more plain words.";

export interface BenchReport {
  device: string;
  llama: string;
  model: { path: string; dims: ModelDims; description: string; params: number; sizeBytes: number };
  loadS: number;
  options: Omit<BenchOptions, "model" | "json">;
  rounds: RoundResult[];
}

/** Runs the whole benchmark; prints as it goes, so a timeout still leaves the lines so far. */
export async function runBench(
  o: BenchOptions,
  log: (s: string) => void = console.log,
): Promise<BenchReport | null> {
  const modelPath = await prepareModel(o, log);
  if (o.generateOnly) return null;

  const t0 = performance.now();
  const engine = await Engine.start({
    libraryDir: o.lib,
    devices: o.cpu ? ["CPU"] : undefined,
    logLevel: o.verbose ? "info" : "warn",
  });
  try {
    const devs = await engine.devices();
    const dev = devs[0];
    log(
      `engine: llama.cpp ${engine.lib.version} from ${engine.lib.dir} (${
        secs(performance.now() - t0)
      })`,
    );
    for (const d of devs) {
      log(
        `device: ${d.name} ${d.description} (${d.type}), ${gb(d.memoryFreeBytes)} free of ${
          gb(d.memoryTotalBytes)
        }`,
      );
    }
    if (!o.cpu && dev.type !== "gpu") {
      throw new Error(
        `llama.cpp found no GPU (only ${devs.map((d) => d.name).join(", ")}): ` +
          `${engine.lib.dir} must hold a CUDA build (libggml-cuda.so) and the driver must see the GPU`,
      );
    }

    const context = Math.ceil((o.prompt + o.gen + 16) / 256) * 256;
    const tl = performance.now();
    const info = await engine.load("bench", modelPath, {
      context,
      slots: o.parallel,
      nBatch: o.nBatch,
      nThreads: o.threads,
      maxQueue: o.parallel,
      gpuLayers: -1,
    });
    const loadS = (performance.now() - tl) / 1000;
    const after = (await engine.devices())[0];
    const size = `${count(info.params)} params, ${gb(info.sizeBytes)}`;
    const layout = `${o.parallel} slots x ${context} ctx`;
    log(`load: ${info.description}, ${size} in ${loadS.toFixed(1)} s; ${layout}`);
    log(`load: ${gb(after.memoryFreeBytes)} free on ${after.name} after loading`);

    // Ban every special token so each request generates exactly --gen tokens.
    const bias: Record<number, number> = {};
    for (const text of [info.eosText, ...info.specialTokens]) {
      const ids = text ? await engine.tokenize("bench", text) : [];
      if (ids.length === 1) bias[ids[0]] = -1000;
    }
    const sampling: SamplingParams = { temperature: 0, logitBias: bias };
    const pool = [...new Set(await engine.tokenize("bench", POOL_TEXT))].filter((id) =>
      !(id in bias)
    );
    if (pool.length < 8) {
      throw new Error(`only ${pool.length} ordinary tokens to build prompts from`);
    }

    let salt = 1;
    const round = (batch: number, prompt: number, gen: number) =>
      runRound(engine, "bench", makePrompts(pool, batch, prompt, salt++), gen, sampling);

    const tw = performance.now();
    await round(1, 32, 8);
    if (o.parallel > 1) await round(o.parallel, 32, 8);
    log(`warm-up: ${secs(performance.now() - tw)}`);

    log("");
    log(
      "|    PP |    TG |   B |  T_PP s |  S_PP t/s |  T_TG s |  S_TG t/s | stream t/s |     T s |     S t/s |",
    );
    log(
      "|------:|------:|----:|--------:|----------:|--------:|----------:|-----------:|--------:|----------:|",
    );
    const rounds: RoundResult[] = [];
    for (const batch of o.parallel > 1 ? [1, o.parallel] : [1]) {
      const reps: RoundResult[] = [];
      for (let i = 0; i < o.reps; i++) reps.push(await round(batch, o.prompt, o.gen));
      const r = meanRounds(reps);
      rounds.push(r);
      const f = (x: number, w: number, d: number) => x.toFixed(d).padStart(w);
      log(
        `| ${f(r.promptTokens, 5, 0)} | ${f(r.genTokens, 5, 0)} | ${f(r.batch, 3, 0)} | ` +
          `${f(r.tPpS, 7, 3)} | ${f(r.sPp, 9, 1)} | ${f(r.tTgS, 7, 3)} | ${f(r.sTg, 9, 1)} | ` +
          `${f(r.perStreamTg, 10, 1)} | ${f(r.tS, 7, 3)} | ${f(r.s, 9, 1)} |`,
      );
      // A fresh random prompt may still share its first token or two with a slot's cache.
      if (r.cachedTokens > 0.01 * r.batch * o.reps * o.prompt) {
        log(`  note: ${r.cachedTokens} prompt tokens came from a slot cache`);
      }
      if (r.finish["length"] !== r.batch * o.reps) {
        log(`  note: not every request generated --gen tokens: ${JSON.stringify(r.finish)}`);
      }
    }
    const { model: _m, json: _j, ...options } = o;
    return {
      device: `${dev.name} ${dev.description}`,
      llama: engine.lib.version,
      model: {
        path: modelPath,
        dims: resolveModelSpec(o.model).dims,
        description: info.description,
        params: info.params,
        sizeBytes: info.sizeBytes,
      },
      loadS,
      options,
      rounds,
    };
  } finally {
    await engine.close();
  }
}

export async function main(args: string[]): Promise<number> {
  let o: BenchOptions | null;
  try {
    o = parseCli(args);
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    console.error(`error: ${e.message}\n\n${USAGE}`);
    return 2;
  }
  if (!o) {
    console.log(USAGE);
    return 0;
  }
  const deadline = setTimeout(() => {
    console.error(`error: deadline of ${o.deadlineS} s passed; the results so far are above`);
    Deno.exit(3);
  }, o.deadlineS * 1000);
  try {
    const report = await runBench(o);
    if (report) {
      console.log(`RESULT ${JSON.stringify(report)}`);
      if (o.json) await Deno.writeTextFile(o.json, JSON.stringify(report, null, 2) + "\n");
    }
    return 0;
  } catch (e) {
    console.error(`error: ${(e as Error).message}`);
    return 1;
  } finally {
    clearTimeout(deadline);
  }
}

if (import.meta.main) Deno.exit(await main(Deno.args));
