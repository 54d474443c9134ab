/**
 * `deno task bench split [--rounds N] [--tokens N]`: what a split over an RPC device costs. The
 * same model (the bench fixture) on two real neurons: one splits it between its CPU and a
 * `ggml-rpc-server` on loopback (budgets that fit neither alone), the other holds it whole on
 * its CPU. Interleaved rounds; medians of prompt tok/s (a prompt of a few hundred tokens) and generation
 * tok/s (greedy, `--tokens` tokens), and the ratio split/whole. Both run the same CPU kernels
 * with one thread each, so the ratio is the RPC hop's cost (serialising each step's tensors
 * over TCP, one round trip per step), not a difference in arithmetic. Needs
 * `deno task llama-build --rpc-module`.
 */

import { parseArgs } from "node:util";
import { ensureFixture, FIXTURES } from "../fixtures/mod.ts";
import { makeStore, spawnServer, writeConfig } from "../helpers/processes.ts";
import { prebuilt, rpcBuild, startRpcServer } from "../helpers/rpc_server.ts";

const USAGE = `usage: deno task bench split [--rounds N] [--tokens N]
  --rounds N   interleaved rounds (default 5)
  --tokens N   generated tokens per request (default 128)`;

interface Figures {
  promptTokens: number;
  promptTps: number;
  genTps: number;
}

async function chat(url: string, content: string, maxTokens: number) {
  const t0 = performance.now();
  const r = await fetch(`${url}/v1/chat/completions`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({
      model: "bench",
      messages: [{ role: "user", content }],
      temperature: 0,
      max_tokens: maxTokens,
      chat_template_kwargs: { enable_thinking: false },
    }),
  });
  const body = await r.json();
  if (r.status !== 200) throw new Error(`${url}: ${r.status} ${JSON.stringify(body)}`);
  return { ms: performance.now() - t0, usage: body.usage as Record<string, number> };
}

/** One round on one neuron: a prefill (1 token out), then a generation from a short prompt. */
async function round(url: string, long: string, tokens: number, salt: number): Promise<Figures> {
  // A fresh prefix each round (the salt), so no slot reuses the last round's cache.
  const p = await chat(url, `${salt} ${long}`, 1);
  const g = await chat(url, `${salt} Count the colours of the rainbow.`, tokens);
  return {
    promptTokens: p.usage.prompt_tokens,
    promptTps: p.usage.prompt_tokens / (p.ms / 1000),
    genTps: g.usage.completion_tokens / (g.ms / 1000),
  };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

export async function main(args: string[]): Promise<number> {
  let values;
  try {
    values = parseArgs({
      args,
      options: {
        rounds: { type: "string" },
        tokens: { type: "string" },
        help: { type: "boolean" },
      },
    }).values;
  } catch (e) {
    console.error(`${(e as Error).message}\n${USAGE}`);
    return 2;
  }
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  const rounds = Number(values.rounds ?? 5);
  const tokens = Number(values.tokens ?? 128);
  if (!Number.isInteger(rounds) || rounds < 1 || !Number.isInteger(tokens) || tokens < 1) {
    console.error(`--rounds and --tokens: whole numbers of at least 1\n${USAGE}`);
    return 2;
  }
  const server = await startRpcServer(rpcBuild());
  const store = await makeStore({ bench: await ensureFixture(FIXTURES.bench) });
  const common = `listen = "127.0.0.1:0"\nlibrary_path = "${prebuilt()}"\n` +
    `model_dirs = ["${store}"]\nslots = 1\ncontext = 1024\nn_threads = 1\nn_batch = 512\n`;
  const split = await spawnServer(
    "cli/neuron.ts",
    await writeConfig(
      "neuron.toml",
      common + `rpc_servers = ["${server.endpoint}"]\nmemory_budget_mb = { CPU = 60, RPC0 = 60 }\n`,
    ),
  );
  const whole = await spawnServer(
    "cli/neuron.ts",
    await writeConfig("neuron.toml", common + `memory_budget_mb = { CPU = 400 }\n`),
  );
  try {
    for (const n of [split, whole]) {
      const r = await fetch(`${n.url}/models/load`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ model: "bench" }),
      });
      if (r.status !== 200) throw new Error(`load: ${r.status} ${await r.text()}`);
    }
    const shares = (await (await fetch(`${split.url}/models`)).json()).models[0].split;
    console.log(
      `split: ${
        shares.shares.map((s: { device: string; layers: number }) => `${s.device} ${s.layers}`)
          .join(", ")
      } layers; whole: CPU`,
    );
    const long = Array.from({ length: 60 }, (_, i) => `item ${i} of the list,`).join(" ");
    await round(split.url, long, 8, -1); // warm-up
    await round(whole.url, long, 8, -2);
    const s: Figures[] = [];
    const w: Figures[] = [];
    for (let i = 0; i < rounds; i++) {
      // Alternate which goes first: drift on a shared machine falls on both.
      const first = i % 2 === 0;
      if (first) s.push(await round(split.url, long, tokens, i));
      w.push(await round(whole.url, long, tokens, i));
      if (!first) s.push(await round(split.url, long, tokens, i));
    }
    const row = (name: string, f: (x: Figures) => number) => {
      const a = median(s.map(f));
      const b = median(w.map(f));
      return `| ${name.padEnd(24)} | ${a.toFixed(1).padStart(9)} | ${b.toFixed(1).padStart(9)} | ${
        (a / b).toFixed(2)
      }× |`;
    };
    console.log(`\nmedians of ${rounds} interleaved rounds`);
    console.log("| tok/s                    | CPU + RPC |  CPU only | split/whole |");
    console.log("| ------------------------ | --------- | --------- | ----------- |");
    console.log(row(`prompt (${s[0].promptTokens} tokens)`, (x) => x.promptTps));
    console.log(row(`generation (${tokens} tokens)`, (x) => x.genTps));
    return 0;
  } finally {
    await split.stop();
    await whole.stop();
    await server.kill();
  }
}
