/**
 * The Node driver and its Deno side, over a stand-in `node-llama-cpp` package (no npm, no
 * model): the JSON-lines protocol, BOS handling, token metering and errors.
 */

import { assert, assertEquals, assertRejects } from "../../assert.ts";
import { NodePeer } from "./node_peer.ts";
import type { Setup, Shape } from "./workload.ts";

const FAKE = `
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
class Sequence {
  tokenMeter = { usedInputTokens: 0, usedOutputTokens: 0 };
  async clearHistory() {}
}
export class LlamaCompletion {
  constructor({ contextSequence }) { this.seq = contextSequence; }
  async generateCompletion(input, { maxTokens, temperature, repeatPenalty }) {
    if (input[0] === 1) throw new Error("BOS given twice");
    if (temperature !== 0 || repeatPenalty !== false) throw new Error("not plain greedy");
    await sleep(2);
    // BOS is prepended here, like the real LlamaCompletion; generation stops at 50 tokens.
    this.seq.tokenMeter.usedInputTokens += input.length + 1;
    this.seq.tokenMeter.usedOutputTokens += Math.min(maxTokens, 50);
    return "";
  }
}
export async function getLlama(o) {
  if (o.gpu !== false || o.build !== "never" || o.skipDownload !== true) throw new Error("unsafe options");
  const model = {
    tokens: { shouldPrependBosToken: true, bos: 1 },
    async createContext(c) {
      return {
        contextSize: c.contextSize, batchSize: c.batchSize, currentThreads: c.threads.ideal,
        getSequence: () => new Sequence(), async dispose() {},
      };
    },
    async dispose() {},
  };
  return {
    llamaCppRelease: { release: "v0.4.0" }, buildType: "prebuilt", gpu: false,
    async loadModel() { return model; }, async dispose() {},
  };
}
`;

async function fakePeerDir(): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "bench-node-peer-" });
  const pkg = `${dir}/node_modules/node-llama-cpp`;
  await Deno.mkdir(`${pkg}/dist`, { recursive: true });
  await Deno.writeTextFile(
    `${pkg}/package.json`,
    JSON.stringify({
      name: "node-llama-cpp",
      version: "3.21.1",
      type: "module",
      main: "dist/index.js",
    }),
  );
  await Deno.writeTextFile(`${pkg}/dist/index.js`, FAKE);
  return dir;
}

const setup: Setup = { modelPath: "/fake.gguf", context: 256, slots: 2, nBatch: 64, threads: 1 };
const shape: Shape = {
  promptTokens: 20,
  shortPromptTokens: 4,
  genTokens: 60,
  concurrent: 2,
  concurrentTokens: 30,
};
const prompts = {
  long: [1, ...Array.from({ length: 19 }, (_, i) => 10 + i)],
  single: [1, 5, 6, 7],
  concurrent: [[1, 8, 9, 10], [1, 11, 12, 13]],
};

Deno.test("the Node peer loads, measures a round, reports memory and closes", async () => {
  const dir = await fakePeerDir();
  try {
    const peer = await NodePeer.start(setup, dir);
    try {
      assertEquals(peer.ready.version, "3.21.1");
      assertEquals(peer.ready.contextSize, 256);
      assertEquals(peer.ready.threads, 1);
      const r = await peer.round(prompts, shape);
      // Our BOS is dropped and node-llama-cpp's own counted: the same 20 prompt tokens.
      assertEquals(r.prompt.tokens, 20);
      assertEquals(r.single.tokens, 50);
      assertEquals(r.concurrent.tokens, 60);
      assert(r.single.ms > 0 && r.single.cpuMs >= 0);
      const mem = await peer.memory();
      assert(mem.rss > 1e6 && mem.anon > 0 && mem.peak >= mem.rss, JSON.stringify(mem));
    } finally {
      await peer.close();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("errors in the Node peer reach the caller with its message", async () => {
  const dir = await fakePeerDir();
  try {
    const peer = await NodePeer.start(setup, dir);
    try {
      const three = { ...prompts, concurrent: [...prompts.concurrent, [1, 2, 3, 4]] };
      await assertRejects(() => peer.round(three, shape), /prompts\.concurrent: 3 exceed 2/);
      // The peer stays usable after an error.
      assertEquals((await peer.round(prompts, shape)).single.tokens, 50);
    } finally {
      await peer.close();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a missing node-llama-cpp fails the start with Node's message", async () => {
  const dir = await Deno.makeTempDir({ prefix: "bench-node-peer-" });
  try {
    await assertRejects(
      () => NodePeer.start(setup, dir),
      /exited before replying[\s\S]*node-llama-cpp/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
