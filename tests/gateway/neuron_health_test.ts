/**
 * What "down" means to the gateway (gateway/fleet.ts): a neuron whose polls time out while it
 * answers proxied requests is up (live traffic is evidence of health), and goes down once the
 * traffic stops too; a neuron whose /health fails while /models answers keeps serving what it
 * holds. The gateway runs in this process in front of a stand-in neuron.
 */

import OpenAI from "openai";
import { assert, assertEquals } from "../assert.ts";
import { gatewayOver, serveStandIn } from "../helpers/stand_in_neuron.ts";
import { waitFor } from "./harness.ts";

const standIn = serveStandIn({ model: "m", events: 10, gapMs: 5 });
const gw = await gatewayOver({ s: standIn }, {
  gateway: `poll_interval = "100ms"\ndown_after = "500ms"`,
});
const openai = new OpenAI({ baseURL: `${gw.url}/v1`, apiKey: "none", maxRetries: 0 });
const neuron = () => gw.gateway.fleet.get("s")!;

async function stream(): Promise<string> {
  const s = await openai.chat.completions.create({
    model: "m",
    messages: [{ role: "user", content: "hi" }],
    stream: true,
  });
  let text = "";
  for await (const ch of s) text += ch.choices[0]?.delta.content ?? "";
  return text;
}

Deno.test("neuron health: answered traffic keeps a neuron up while its polls time out", async () => {
  standIn.slowPolls = true;
  try {
    // Polls now time out after 1 s, twice the grace: only the traffic can keep it up.
    const until = performance.now() + 2500;
    let served = 0;
    while (performance.now() < until) {
      assertEquals(await stream(), " t1 t2 t3 t4 t5 t6 t7 t8 t9 t10");
      served++;
      assert(neuron().up, `marked down after ${served} answered requests`);
    }
    assert(neuron().lastError !== null, "the polls were failing all along");
    // With no traffic, failing polls take it down.
    await waitFor("the idle neuron to go down", () => !neuron().up, 4000);
  } finally {
    standIn.slowPolls = false;
  }
  await waitFor("the neuron back up", () => neuron().up, 5000);
});

Deno.test("neuron health: /health failing while /models answers keeps serving its models", async () => {
  standIn.healthFails = true;
  try {
    await waitFor(
      "a poll to see /health fail",
      () => /\/health/.test(neuron().lastError ?? ""),
      3000,
    );
    assert(neuron().up);
    assertEquals(neuron().devices, [], "its devices are unknown: no placement there");
    assertEquals(await stream(), " t1 t2 t3 t4 t5 t6 t7 t8 t9 t10");
  } finally {
    standIn.healthFails = false;
  }
});

Deno.test("neuron health: stop", async () => {
  await gw.shutdown(1000);
  await standIn.close();
});
