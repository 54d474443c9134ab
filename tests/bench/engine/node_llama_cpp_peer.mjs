/**
 * node-llama-cpp under Node, driven by the engine benchmark (node_peer.ts) over JSON
 * lines: it loads the model once, then runs one round per request, the way a
 * node-llama-cpp user would (LlamaCompletion on sequences of one multi-sequence context).
 *
 * Usage: node node_llama_cpp_peer.mjs <dir holding node_modules/node-llama-cpp>
 * stdin:  {"op":"setup","setup":{...}} | {"op":"round","prompts":{...},"shape":{...}}
 *         | {"op":"memory"} | {"op":"close"}
 * stdout: {"op":"ready",...} | {"op":"figures","figures":{...}} | {"op":"memory","resident":{...}}
 *         | {"op":"closed"} | {"op":"error","message"}
 */

import { createRequire } from "node:module";
import path from "node:path";
import readline from "node:readline";
import { pathToFileURL } from "node:url";

const reply = (m) => process.stdout.write(JSON.stringify(m) + "\n");

const peerDir = process.argv[2];
if (!peerDir) {
  reply({ op: "error", message: "usage: node_llama_cpp_peer.mjs <peer dir>" });
  process.exit(2);
}
const entry = createRequire(path.join(peerDir, "package.json")).resolve("node-llama-cpp");
const { getLlama, LlamaCompletion } = await import(pathToFileURL(entry).href);

/** @type {{ llama: any, model: any, context: any, completions: { seq: any, completion: any }[] } | null} */
let state = null;

async function setup(s) {
  const llama = await getLlama({
    gpu: false,
    // Use the prebuilt binaries or fail: never download or build llama.cpp.
    build: "never",
    skipDownload: true,
    usePrebuiltBinaries: true,
    progressLogs: false,
    logLevel: "warn",
    logger: (level, message) => process.stderr.write(`node-llama-cpp ${level}: ${message}\n`),
    maxThreads: s.threads,
  });
  const model = await llama.loadModel({ modelPath: s.modelPath, gpuLayers: 0 });
  const context = await model.createContext({
    contextSize: s.context,
    sequences: s.slots,
    batchSize: s.nBatch,
    threads: { ideal: s.threads, min: s.threads },
    flashAttention: "auto",
  });
  const completions = [];
  for (let i = 0; i < s.slots; i++) {
    const seq = context.getSequence();
    completions.push({ seq, completion: new LlamaCompletion({ contextSequence: seq }) });
  }
  state = { llama, model, context, completions };
  const pkg = createRequire(entry)("../package.json");
  return {
    op: "ready",
    version: pkg.version,
    llamaCpp: llama.llamaCppRelease?.release ?? "unknown",
    buildType: llama.buildType,
    gpu: llama.gpu,
    contextSize: context.contextSize,
    batchSize: context.batchSize,
    threads: context.currentThreads,
  };
}

/**
 * Greedy, no repeat penalty (the engine samples the same way); returns tokens metered.
 * LlamaCompletion prepends BOS itself where the vocabulary asks, so a prompt's leading BOS
 * is dropped here: every peer then evaluates exactly the same tokens.
 */
async function generate({ seq, completion }, tokens, maxTokens) {
  const t = state.model.tokens;
  const input = t.shouldPrependBosToken && t.bos !== null && tokens[0] === t.bos
    ? tokens.slice(1)
    : tokens;
  const before = { in: seq.tokenMeter.usedInputTokens, out: seq.tokenMeter.usedOutputTokens };
  await completion.generateCompletion(input, {
    maxTokens,
    temperature: 0,
    repeatPenalty: false,
  });
  return {
    input: seq.tokenMeter.usedInputTokens - before.in,
    output: seq.tokenMeter.usedOutputTokens - before.out,
  };
}

/** Wall and process CPU time of `fn`, as engine_peer.ts's timed() measures them. */
async function timed(fn) {
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  const value = await fn();
  const ms = performance.now() - t0;
  const c = process.cpuUsage(c0);
  return { value, ms, cpuMs: (c.user + c.system) / 1000 };
}

async function round(prompts, shape) {
  const c = state.completions;
  if (prompts.concurrent.length > c.length) {
    throw new Error(
      `prompts.concurrent: ${prompts.concurrent.length} exceed ${c.length} sequences`,
    );
  }
  // Each measurement starts from empty sequences, outside the timed part.
  const clear = () => Promise.all(c.map((x) => x.seq.clearHistory()));
  await clear();
  const prompt = await timed(() => generate(c[0], prompts.long, 1));
  await clear();
  const single = await timed(() => generate(c[0], prompts.single, shape.genTokens));
  await clear();
  const concurrent = await timed(() =>
    Promise.all(prompts.concurrent.map((p, i) => generate(c[i], p, shape.concurrentTokens)))
  );
  return {
    op: "figures",
    figures: {
      // Prompt tokens actually evaluated (node-llama-cpp prepends BOS where the vocabulary asks).
      prompt: { tokens: prompt.value.input, ms: prompt.ms, cpuMs: prompt.cpuMs },
      single: { tokens: single.value.output, ms: single.ms, cpuMs: single.cpuMs },
      concurrent: {
        tokens: concurrent.value.reduce((a, v) => a + v.output, 0),
        ms: concurrent.ms,
        cpuMs: concurrent.cpuMs,
      },
    },
  };
}

/** Resident memory from /proc/self/status, in bytes (the same fields memory_probe.ts reads). */
async function memory() {
  const { readFile } = await import("node:fs/promises");
  const text = await readFile("/proc/self/status", "utf8");
  const kb = (field) => Number(text.match(new RegExp(`^${field}:\\s+(\\d+) kB`, "m"))[1]) * 1024;
  return {
    op: "memory",
    resident: { rss: kb("VmRSS"), anon: kb("RssAnon"), file: kb("RssFile"), peak: kb("VmHWM") },
  };
}

async function close() {
  if (state) {
    await state.context.dispose();
    await state.model.dispose();
    await state.llama.dispose();
    state = null;
  }
  return { op: "closed" };
}

const lines = readline.createInterface({ input: process.stdin });
for await (const line of lines) {
  if (!line.trim()) continue;
  try {
    const m = JSON.parse(line);
    if (m.op === "setup") reply(await setup(m.setup));
    else if (m.op === "round") reply(await round(m.prompts, m.shape));
    else if (m.op === "memory") reply(await memory());
    else if (m.op === "close") {
      reply(await close());
      break;
    } else reply({ op: "error", message: `unknown op ${JSON.stringify(m.op)}` });
  } catch (e) {
    reply({ op: "error", message: e instanceof Error ? e.stack ?? e.message : String(e) });
  }
}
await close();
process.exit(0);
