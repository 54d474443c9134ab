/**
 * A model split across two devices of a real neuron: its CPU and the device of a real
 * `ggml-rpc-server` on loopback (llama.cpp's RPC backend). The model fits neither device's
 * budget alone; split, it generates the same tokens at temperature 0 as the same model whole
 * on one device; `/models` and `/discovery` account a share on each device and unloading frees
 * both; killing the server mid-stream ends that stream with an error while the neuron keeps
 * serving its other models.
 *
 * Needs the RPC module for the npm prebuilt (`deno task llama-build --rpc-module`, which
 * `.ci/run` makes): without it every test here fails saying so; none is skipped.
 */

import OpenAI from "openai";
import { assert, assertEquals, assertMatch, assertRejects } from "../assert.ts";
import { ensureFixture, FIXTURES } from "../fixtures/mod.ts";
import { freePort, makeStore, spawnServer, writeConfig } from "../helpers/processes.ts";
import { DiscoverySchema, NeuronModelSchema } from "../../core/neuron/schemas.ts";
import { prebuilt, rpcBuild, startRpcServer } from "../helpers/rpc_server.ts";

const MiB = 1024 * 1024;

/** The bench fixture (~53 MB): needs ~80 MiB at this context; each device may give 50. */
const NEURON_COMMON = `listen = "127.0.0.1:0"
library_path = "${prebuilt()}"
slots = 1
n_threads = 1
n_batch = 64
`;

async function neuronWith(store: string, extra: string, context = 256) {
  const config = await writeConfig(
    "neuron.toml",
    `${NEURON_COMMON}context = ${context}\nmodel_dirs = ["${store}"]\n${extra}`,
  );
  return await spawnServer("cli/neuron.ts", config);
}

async function json(url: string, init?: RequestInit) {
  const r = await fetch(url, init);
  return { status: r.status, body: await r.json() };
}

const post = (path: string) => (url: string, body: unknown) =>
  json(`${url}${path}`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });
const load = post("/models/load");
const unload = post("/models/unload");

async function devices(url: string) {
  const d = DiscoverySchema.parse((await json(`${url}/discovery`)).body);
  return new Map(d.devices.map((x) => [x.name, x]));
}

/** Asserts that neither the CPU nor the RPC device holds anything any more. */
async function assertNothingHeld(url: string) {
  const d = await devices(url);
  assertEquals(d.get("CPU")!.memory_used_bytes, 0);
  assertEquals(d.get("RPC0")!.memory_used_bytes, 0);
}

async function model(url: string, id: string) {
  const list = (await json(`${url}/models`)).body.models as unknown[];
  return list.map((m) => NeuronModelSchema.parse(m)).find((m) => m.id === id);
}

/**
 * An rpc-server and a neuron using it, with a store of `big` (fits neither device alone) and
 * `small` (fits the CPU beside big's share).
 */
async function bigAndSmall(context?: number) {
  const store = await makeStore({
    big: await ensureFixture(FIXTURES.bench),
    small: await ensureFixture(FIXTURES.plain),
  });
  const server = await startRpcServer(rpcBuild());
  const n = await neuronWith(
    store,
    `rpc_servers = ["${server.endpoint}"]\nmemory_budget_mb = { CPU = 60, RPC0 = 50 }\n`,
    context,
  );
  return { server, n };
}

const PROMPT = [{ role: "user" as const, content: "Count the colours of the rainbow." }];

async function greedy(url: string, id: string): Promise<{ text: string; tokens: number }> {
  const c = new OpenAI({ baseURL: `${url}/v1`, apiKey: "x", maxRetries: 0 });
  const r = await c.chat.completions.create({
    model: id,
    messages: PROMPT,
    temperature: 0,
    max_tokens: 48,
  });
  const m = r.choices[0].message as { content: string | null; reasoning_content?: string };
  return {
    text: `${m.reasoning_content ?? ""}|${m.content ?? ""}`,
    tokens: r.usage!.completion_tokens,
  };
}

Deno.test("rpc split: fits neither device alone, loads across CPU and RPC0, same tokens as whole", async () => {
  const dir = rpcBuild();
  const store = await makeStore({ big: await ensureFixture(FIXTURES.bench) });
  const server = await startRpcServer(dir);
  const split = await neuronWith(
    store,
    `rpc_servers = ["${server.endpoint}"]\nmemory_budget_mb = { CPU = 50, RPC0 = 50 }\n`,
  );
  const whole = await neuronWith(store, `memory_budget_mb = { CPU = 400 }\n`);
  try {
    const before = await devices(split.url);
    assertEquals([...before.keys()], ["CPU", "RPC0"]);
    assertEquals(before.get("RPC0")!.remote, true);
    assertEquals(before.get("RPC0")!.memory_used_bytes, 0);

    // Asked onto one device, it does not fit: the refusal names the device's budget.
    const one = await load(split.url, { model: "big", device: "CPU" });
    assertEquals(one.status, 507, JSON.stringify(one.body));

    // Bad split requests: a 400 naming the field.
    for (
      const [body, field] of [
        [{ split: "row" }, /split: \\"row\\" needs every device to be a local GPU; CPU/],
        [{ devices: ["CPU", "RPC0"], tensor_split: [1] }, /tensor_split/],
        [{ devices: ["CPU", "GPU9"] }, /devices: GPU9 is not available here/],
        [{ devices: ["RPC0", "RPC0"] }, /devices/],
        [{ device: "RPC0" }, /device RPC0 is not available here.*"param":"device"/],
        // A device listed takes part: a zero share, or one too small for a layer, is refused.
        [
          { devices: ["CPU", "RPC0"], tensor_split: [1, 0] },
          /tensor_split\[1\]: a share above 0.*"param":"tensor_split\[1\]"/,
        ],
        [
          { devices: ["CPU", "RPC0"], tensor_split: [0.001, 1000] },
          /tensor_split: CPU's share gives it none of the model's 8 layers.*"param":"tensor_split"/,
        ],
        [{ device: "CPU", split: "layer" }, /device/],
        [{ split: "layer", draft: "big" }, /a draft model is not supported with a split/],
      ] as const
    ) {
      const r = await load(split.url, { model: "big", ...body });
      assertEquals(r.status, 400, JSON.stringify(r.body));
      assertMatch(JSON.stringify(r.body), field);
    }

    // Unasked, it is split automatically by layers; the listing says so before the load.
    const avail = await model(split.url, "big");
    assertEquals(avail?.split?.shares.map((s) => s.device), ["CPU", "RPC0"]);

    const loaded = await load(split.url, { model: "big" });
    assertEquals(loaded.status, 200, JSON.stringify(loaded.body) + split.log());
    const m = (await model(split.url, "big"))!;
    assertEquals(m.device, "CPU");
    assertEquals(m.split?.mode, "layer");
    const shares = new Map(m.split!.shares.map((s) => [s.device, s]));
    assertEquals([...shares.keys()], ["CPU", "RPC0"]);
    assertEquals(shares.get("CPU")!.layers + shares.get("RPC0")!.layers, 8);
    for (const s of shares.values()) {
      assert(s.layers > 0 && s.memory_bytes <= 50 * MiB, JSON.stringify(s));
    }
    assertEquals(
      shares.get("CPU")!.memory_bytes + shares.get("RPC0")!.memory_bytes,
      m.memory_bytes,
    );
    const during = await devices(split.url);
    for (const name of ["CPU", "RPC0"]) {
      assertEquals(during.get(name)!.memory_used_bytes, shares.get(name)!.memory_bytes, name);
    }
    // The server really holds the RPC share (its buffers were allocated there).
    assertMatch(server.log(), /Accepted client connection/);

    // A split asked of a neuron with one device: the request's fault, named.
    const lone = await load(whole.url, { model: "big", split: "layer" });
    assertEquals(lone.status, 400, JSON.stringify(lone.body));
    assertMatch(
      JSON.stringify(lone.body),
      /split: a split needs two devices or more.*"param":"split"/,
    );
    assertEquals((await load(whole.url, { model: "big" })).status, 200);
    assertEquals((await model(whole.url, "big"))!.split ?? null, null);

    // Same kernels (the server runs the prebuilt's CPU modules, one thread each): the split
    // changes where each layer runs, not its arithmetic, so greedy decoding agrees token for
    // token.
    const a = await greedy(split.url, "big");
    const b = await greedy(whole.url, "big");
    assertEquals(a, b);
    assert(a.tokens > 8, JSON.stringify(a));

    const un = await unload(split.url, { model: "big" });
    assertEquals(un.status, 200, JSON.stringify(un.body));
    await assertNothingHeld(split.url);

    // Asked for: the devices and shares given (a quarter of the 8 layers on the CPU).
    const asked = await load(split.url, {
      model: "big",
      split: "layer",
      devices: ["CPU", "RPC0"],
      tensor_split: [1, 3],
    });
    assertEquals(asked.status, 200, JSON.stringify(asked.body));
    const m2 = (await model(split.url, "big"))!;
    assertEquals(m2.split?.shares.map((s) => [s.device, s.layers]), [["CPU", 2], ["RPC0", 6]]);
    assertEquals((await greedy(split.url, "big")).text, a.text);
  } finally {
    await split.stop();
    await whole.stop();
    await server.kill();
  }
});

Deno.test("rpc split: two split models on one worker decode at once, each as it does alone; unloads free every share", async () => {
  const dir = rpcBuild();
  const file = await ensureFixture(FIXTURES.bench);
  const store = await makeStore({ a: file, b: file });
  const server = await startRpcServer(dir);
  const n = await neuronWith(
    store,
    `rpc_servers = ["${server.endpoint}"]\nmemory_budget_mb = { CPU = 90, RPC0 = 90 }\n`,
  );
  try {
    for (const id of ["a", "b"]) {
      const r = await load(n.url, { model: id, devices: ["CPU", "RPC0"] });
      assertEquals(r.status, 200, JSON.stringify(r.body));
    }
    // Both are owned by the CPU worker and both call the one RPC server (ggml queues their
    // calls on one connection): concurrent decodes must not mix their graphs (rpc_lock.ts; a
    // race, so this catches it only sometimes without the lock).
    const alone = await greedy(n.url, "a");
    assertEquals(await greedy(n.url, "b"), alone);
    for (let i = 0; i < 3; i++) {
      assertEquals(await Promise.all([greedy(n.url, "a"), greedy(n.url, "b")]), [alone, alone]);
    }
    for (const id of ["a", "b"]) {
      const un = await unload(n.url, { model: id });
      assertEquals(un.status, 200, JSON.stringify(un.body));
    }
    await assertNothingHeld(n.url);
  } finally {
    await n.stop();
    await server.kill();
  }
});

Deno.test("rpc split: a CPU without room for one layer gets no split that leaves it idle (507, not 500)", async () => {
  const dir = rpcBuild();
  const store = await makeStore({ big: await ensureFixture(FIXTURES.bench) });
  const server = await startRpcServer(dir);
  const n = await neuronWith(
    store,
    `rpc_servers = ["${server.endpoint}"]\nmemory_budget_mb = { CPU = 5, RPC0 = 300 }\n`,
  );
  try {
    // RPC0 alone would hold it, but an RPC device cannot run a model: no plan, and the listing
    // offers none.
    assertEquals((await model(n.url, "big"))!.split ?? null, null);
    const r = await load(n.url, { model: "big" });
    assertEquals(r.status, 507, JSON.stringify(r.body));
    assertMatch(JSON.stringify(r.body), /CPU has no room for one of the model's layers/);
    await assertNothingHeld(n.url);
  } finally {
    await n.stop();
    await server.kill();
  }
});

Deno.test("rpc split: the server dies mid-stream: that stream errors, other models serve on", async () => {
  const { server, n } = await bigAndSmall(1024);
  try {
    assertEquals((await load(n.url, { model: "small", device: "CPU" })).status, 200);
    assertEquals((await load(n.url, { model: "big" })).status, 200, n.log());
    const bigShares = (await model(n.url, "big"))!.split!.shares;
    assertEquals(bigShares.length, 2);
    const smallBytes = (await model(n.url, "small"))!.memory_bytes!;

    const c = new OpenAI({ baseURL: `${n.url}/v1`, apiKey: "x", maxRetries: 0 });
    const stream = await c.chat.completions.create({
      model: "big",
      messages: PROMPT,
      // Greedy, this model runs to the end of its context (~1000 tokens): the kill below
      // always lands mid-stream.
      temperature: 0,
      max_tokens: 4000,
      stream: true,
    });
    let chunks = 0;
    await assertRejects(async () => {
      for await (const _ of stream) {
        if (++chunks === 3) await server.kill();
      }
    }, /RPC server was lost|rpc|decode/i);
    assert(chunks >= 3, `${chunks} chunks`);

    // The neuron serves on: the small model answers, the split one is failed with the reason.
    const r = await c.chat.completions.create({
      model: "small",
      messages: [{ role: "user", content: "hi" }],
      max_tokens: 4,
    });
    assertEquals(r.choices.length, 1);
    // The lost model's parked loop no longer counts as busy on the CPU worker (else its other
    // models would never decode on the worker's thread again).
    assertMatch(n.log(), /model abandoned key=big device=CPU busy_loops=0 loads=0/);
    const big = (await model(n.url, "big"))!;
    assertEquals(big.state, "failed");
    assertMatch(big.error ?? "", /RPC server was lost/);
    const d = await devices(n.url);
    assertEquals(d.get("CPU")!.state, "ok");
    assertEquals(d.get("RPC0")!.state, "failed");
    // The lost model's CPU share cannot be freed (a free would call the dead server): it stays
    // accounted, beside the small model, even once its failed record is dropped.
    const cpuShare = bigShares.find((x) => x.device === "CPU")!.memory_bytes;
    assertEquals(d.get("CPU")!.memory_used_bytes, smallBytes + cpuShare);
    const un = await unload(n.url, { model: "big" });
    assertEquals(un.status, 200, JSON.stringify(un.body));
    assertEquals((await devices(n.url)).get("CPU")!.memory_used_bytes, smallBytes + cpuShare);
  } finally {
    await n.stop();
    await server.kill();
  }
});

Deno.test("rpc split: the server dies while the model sits idle: its unload ends, the device's other models serve on", async () => {
  const { server, n } = await bigAndSmall();
  try {
    assertEquals((await load(n.url, { model: "small", device: "CPU" })).status, 200);
    assertEquals((await load(n.url, { model: "big" })).status, 200, n.log());
    const cpuShare = (await model(n.url, "big"))!.split!.shares.find((x) => x.device === "CPU")!
      .memory_bytes;
    const smallBytes = (await model(n.url, "small"))!.memory_bytes!;
    await server.kill();
    // Nothing noticed the loss yet: the unload's free is the first call to the dead server. It
    // runs off the CPU worker's thread, so it parks there, not the worker.
    const un = await unload(n.url, { model: "big" });
    assertEquals(un.status, 200, JSON.stringify(un.body));
    const c = new OpenAI({ baseURL: `${n.url}/v1`, apiKey: "x", maxRetries: 0 });
    const r = await c.chat.completions.create({
      model: "small",
      messages: [{ role: "user", content: "hi" }],
      max_tokens: 4,
    });
    assertEquals(r.choices.length, 1);
    const d = await devices(n.url);
    assertEquals(d.get("RPC0")!.state, "failed");
    // Its memory could not be freed: the shares stay accounted until a restart.
    assertEquals(d.get("CPU")!.memory_used_bytes, smallBytes + cpuShare);
    assertEquals((await model(n.url, "big"))!.state, "available");
  } finally {
    await n.stop();
    await server.kill();
  }
});

Deno.test("rpc: a server that cannot be reached, or is no rpc-server, or a missing rpc_library stops the start (exit 2) naming the key", async () => {
  rpcBuild();
  const store = await makeStore({});
  const port = freePort(); // nothing listens there
  const err = await assertRejects(
    () => neuronWith(store, `rpc_servers = ["127.0.0.1:${port}"]\n`),
  );
  assertMatch(err.message, /exited with 2 before listening/);
  assertMatch(
    err.message,
    new RegExp(`neuron\\.toml: rpc_servers: cannot reach 127\\.0\\.0\\.1:${port}`),
  );

  // Something listens, but not an rpc-server: ggml's handshake fails (an abort the guard
  // catches), and the start stops at once with ggml's reason and the endpoint.
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const accepting = (async () => {
    for await (const conn of listener) conn.close();
  })().catch(() => {});
  try {
    const port2 = (listener.addr as Deno.NetAddr).port;
    const not = await assertRejects(
      () => neuronWith(store, `rpc_servers = ["127.0.0.1:${port2}"]\n`),
    );
    assertMatch(not.message, /exited with 2 before listening/);
    assertMatch(
      not.message,
      new RegExp(
        `neuron\\.toml: rpc_servers: 127\\.0\\.0\\.1:${port2}: Remote RPC server crashed or returned malformed response`,
      ),
    );
  } finally {
    listener.close();
    await accepting;
  }

  const missing = await assertRejects(
    () =>
      neuronWith(
        store,
        `rpc_servers = ["127.0.0.1:${port}"]\nrpc_library = "/nonexistent/libggml-rpc.so"\n`,
      ),
  );
  assertMatch(
    missing.message,
    /neuron\.toml: rpc_library: llama\.cpp's RPC backend \/nonexistent\/libggml-rpc\.so is missing/,
  );
});
