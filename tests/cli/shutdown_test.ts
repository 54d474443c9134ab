/**
 * Graceful shutdown of `cortex serve` (embedded neuron): SIGTERM stops new
 * connections, lets the stream in flight finish, then exits 0.
 */

import OpenAI from "openai";
import { assert, assertEquals } from "../assert.ts";
import { ensureFixture, FIXTURES, fixtureVocab } from "../fixtures/mod.ts";
import { makeStore, spawnServer, writeConfig } from "../helpers/processes.ts";

Deno.test({
  name: "SIGTERM during a stream lets it finish, then the gateway exits 0",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const store = await makeStore({ plain: await ensureFixture(FIXTURES.plain) });
    const neuron = await writeConfig(
      "neuron.toml",
      `model_dirs = ["${store}"]\nslots = 1\ncontext = 1024\nn_threads = 1\n`,
    );
    const cortex = await writeConfig(
      "cortex.toml",
      `[gateway]\nlisten = "127.0.0.1:0"\nmetrics_listen = "127.0.0.1:0"\n[embedded]\nneuron_config = "${neuron}"\n`,
    );
    const gw = await spawnServer("cli/cortex.ts", cortex);
    const client = new OpenAI({ baseURL: `${gw.url}/v1`, apiKey: "none", maxRetries: 0 });
    // End-of-generation tokens banned: the stream runs its full length unless cut.
    const vocab = fixtureVocab(FIXTURES.plain).tokens;
    const ban = Object.fromEntries(
      ["</s>", "<|im_end|>"].map((t) => [String(vocab.indexOf(t)), -100]),
    );
    const stream = await client.chat.completions.create({
      model: "plain",
      messages: [{ role: "user", content: "a long answer" }],
      max_tokens: 400,
      stream: true,
      logit_bias: ban,
    });
    let chunks = 0;
    let finish: string | null = null;
    let exit: Promise<number> | undefined;
    for await (const ch of stream) {
      chunks++;
      if (chunks === 5) exit = gw.stop("SIGTERM");
      finish = ch.choices[0]?.finish_reason ?? finish;
    }
    assertEquals(finish, "length", "the stream ran to its end");
    assert(chunks > 300, `only ${chunks} chunks arrived`);
    assertEquals(await exit, 0);
    assert(/gateway stopped/.test(gw.log()), "the gateway logged its clean stop");
    // After the drain nothing listens any more.
    const refused = await fetch(`${gw.url}/health`).then(() => false, () => true);
    assert(refused, "the port still answers after shutdown");
  },
});
