/**
 * `deno task bench agent`: a coding agent's two turns through the gateway. Turn 1 sends a
 * ~30k-token conversation (a long system prompt, as Claude Code's is, and a request); turn 2
 * resends it with the answer and ~300 new tokens. TTFT (a one-token answer's latency) and
 * prefill tok/s of each turn, against llama-server built from the same llama.cpp release with
 * the same threads, slots, batch and context. The peer is the llama-server of the native build
 * in the cache when there is one (`deno task llama-build --peer`: the neuron runs that build
 * too), else tests/bench/agent/build_peer.sh's, built into tests/bench/.peer/ with the npm
 * prebuilt's CPU flags (never in CI). Peers run one after the other, never at the same time.
 *
 *   deno task bench agent [--size tiny|bench] [--tokens 30000] [--rounds 1] [--no-peer]
 */

import { Command } from "commander";
import { ensureFixture, type ModelOptions } from "../fixtures/mod.ts";
import {
  freePort,
  makeStore,
  type Spawned,
  spawnServer,
  writeConfig,
} from "../helpers/processes.ts";
import { numberFlag, optionsOrExitCode, parseCommand } from "./common/options.ts";
import { medianResult, type PeerResult, renderTable, targets, type Turn } from "./agent/report.ts";
import { nativeBuild } from "./common/native_build.ts";

const ROOT = new URL("../../", import.meta.url).pathname;
/** The llama-server matching the library the neuron runs (see the module comment). */
function peerBinary(): string {
  const native = nativeBuild(true);
  return native ? `${native}/llama-server` : `${ROOT}tests/bench/.peer/build/bin/llama-server`;
}
const SLOTS = 4;
const log = (line: string) => console.error(`bench agent: ${line}`);

interface Options {
  size: "tiny" | "bench";
  tokens: number;
  rounds: number;
  peer: boolean;
}

function parse(args: string[]): Options {
  const cmd = new Command("bench agent").exitOverride().configureOutput({
    writeOut: () => {},
    writeErr: () => {},
  })
    .option(
      "--size <size>",
      "fixture size: tiny (2 layers) or bench (8 layers, n_embd 512)",
      "bench",
    )
    .option(
      "--tokens <n>",
      "turn 1 prompt tokens (about)",
      numberFlag("--tokens", 1000, 120000),
      30000,
    )
    .option("--rounds <n>", "rounds (fresh servers each)", numberFlag("--rounds", 1, 20), 1)
    .option("--no-peer", "skip llama-server");
  const o = parseCommand(cmd, args);
  if (o.size !== "tiny" && o.size !== "bench") throw new Error(`--size: tiny or bench`);
  return { size: o.size, tokens: o.tokens, rounds: o.rounds, peer: o.peer };
}

/** A fixture trained for 131072 tokens, so the context is what the neuron fits. */
const fixture = (size: Options["size"]): ModelOptions => ({
  family: "chatml",
  reasoning: "none",
  size,
  contextLength: 131072,
});

/** About `tokens` tokens of the fixture's vocabulary (3.9 tokens a word). */
const text = (tokens: number, salt: string) =>
  Array.from({ length: Math.round(tokens / 3.9) }, (_, i) => `w${salt}${i % 97}`).join(" ");

/** One OpenAI chat request with a one-token answer: its latency is the TTFT. */
async function ask(url: string, messages: unknown[]): Promise<Turn & { answer: string }> {
  const t0 = performance.now();
  const r = await fetch(`${url}/v1/chat/completions`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ model: "agent", messages, max_tokens: 1, temperature: 0 }),
  });
  const j = await r.json();
  const ttftMs = performance.now() - t0;
  if (!r.ok) throw new Error(`${url}: ${r.status} ${JSON.stringify(j)}`);
  return {
    ttftMs,
    promptTokens: j.usage.prompt_tokens,
    cachedTokens: j.usage.prompt_tokens_details?.cached_tokens ?? 0,
    answer: j.choices[0].message.content ?? "",
  };
}

async function conversation(url: string, tokens: number, round: number): Promise<[Turn, Turn]> {
  const first = [
    { role: "system", content: text(tokens, `r${round}`) },
    { role: "user", content: "Fix the failing test." },
  ];
  const t1 = await ask(url, first);
  const t2 = await ask(url, [
    ...first,
    { role: "assistant", content: t1.answer },
    { role: "user", content: text(300, `u${round}`) },
  ]);
  return [t1, t2];
}

async function waitHealthy(url: string, proc: Deno.ChildProcess): Promise<void> {
  for (let i = 0; i < 600; i++) {
    try {
      const r = await fetch(`${url}/health`);
      await r.body?.cancel();
      if (r.ok) return;
    } catch { /* not yet */ }
    await new Promise((r) => setTimeout(r, 200));
  }
  proc.kill("SIGKILL");
  throw new Error(`${url} did not become healthy`);
}

async function runCortex(model: string, o: Options, round: number): Promise<PeerResult> {
  const store = await makeStore({ agent: model });
  const neuron = await writeConfig(
    "neuron.toml",
    `model_dirs = ["${store}"]\nn_threads = 1\nslots = ${SLOTS}\n`,
  );
  const cortex = await writeConfig(
    "cortex.toml",
    `[gateway]\nlisten = "127.0.0.1:0"\nmetrics_listen = "127.0.0.1:0"\n` +
      `[embedded]\nneuron_config = "${neuron}"\n`,
  );
  const gw: Spawned = await spawnServer("cli/cortex.ts", cortex, { env: { CORTEX_LOG: "warn" } });
  try {
    // The load is not part of TTFT: warm it with a tiny request.
    await ask(gw.url, [{ role: "user", content: "hi" }]);
    const [turn1, turn2] = await conversation(gw.url, o.tokens, round);
    return { name: "cortex (gateway)", turn1, turn2 };
  } finally {
    await gw.stop();
  }
}

async function runPeer(model: string, o: Options, round: number, ctx: number) {
  const port = freePort();
  const proc = new Deno.Command(peerBinary(), {
    args: [
      ...["-m", model, "--host", "127.0.0.1", "--port", String(port)],
      ...["-t", "1", "-tb", "1", "-np", String(SLOTS), "-c", String(ctx * SLOTS)],
      ...["-b", "512", "-ub", "512", "--jinja", "--no-webui"],
    ],
    stdout: "null",
    stderr: "null",
  }).spawn();
  const url = `http://127.0.0.1:${port}`;
  try {
    await waitHealthy(url, proc);
    await ask(url, [{ role: "user", content: "hi" }]);
    const [turn1, turn2] = await conversation(url, o.tokens, round);
    return { name: "llama-server", turn1, turn2 };
  } finally {
    proc.kill("SIGTERM");
    await proc.status;
  }
}

export async function main(args: string[]): Promise<number> {
  const o = optionsOrExitCode(() => parse(args));
  if (typeof o === "number") return o;
  const model = await ensureFixture(fixture(o.size));
  let peer = o.peer;
  const bin = peerBinary();
  if (peer && !(await Deno.stat(bin).catch(() => null))) {
    log(`no ${bin}: build it with \`deno task llama-build --peer\`; cortex alone`);
    peer = false;
  }
  if (peer) log(`peer: ${bin}`);
  const ours: PeerResult[] = [];
  const theirs: PeerResult[] = [];
  for (let r = 0; r < o.rounds; r++) {
    log(`round ${r + 1}/${o.rounds}: cortex`);
    const c = await runCortex(model, o, r);
    ours.push(c);
    log(`  turn 1 ${c.turn1.ttftMs.toFixed(0)} ms, turn 2 ${c.turn2.ttftMs.toFixed(0)} ms`);
    if (peer) {
      log(`round ${r + 1}/${o.rounds}: llama-server`);
      // The context each slot gets from cortex's fit (the trained length here), for both.
      const p = await runPeer(model, o, r, 131072);
      theirs.push(p);
      log(`  turn 1 ${p.turn1.ttftMs.toFixed(0)} ms, turn 2 ${p.turn2.ttftMs.toFixed(0)} ms`);
    }
  }
  const c = medianResult("cortex (gateway)", ours);
  const p = peer ? medianResult("llama-server", theirs) : null;
  console.log(
    `fixture ${o.size} (trained 131072), ${SLOTS} slots, 1 thread, medians of ${o.rounds} round(s)\n`,
  );
  console.log(renderTable(c, p));
  console.log();
  for (const line of targets(c, p)) console.log(line);
  return 0;
}
