/**
 * The gateway places a model that fits neither of a neuron's devices alone: the neuron's
 * CPU and the device of a real `ggml-rpc-server` on loopback together hold it, so the first
 * request cold-loads it split (the gateway names no device; the neuron plans the layers),
 * answers, and `cortex status` shows it on each of its devices; once the server is lost, the
 * gateway's view follows the neuron's and a new request is told the model is unavailable.
 */

import { assert, assertEquals, assertMatch } from "../assert.ts";
import { startFleet, user } from "./harness.ts";
import { prebuilt, rpcBuild, startRpcServer } from "../helpers/rpc_server.ts";
import { StatusSchema } from "../../core/gateway/schemas.ts";
import { renderStatus } from "../../cli/status.ts";

Deno.test({
  name: "gateway: a model no device holds alone loads split across CPU and RPC0, shown on each",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const server = await startRpcServer(rpcBuild());
    const f = await startFleet({
      neurons: [{
        name: "n",
        store: { big: "bench" },
        slots: 1,
        context: 256,
        budgets: "{ CPU = 50, RPC0 = 50 }",
        toml: `library_path = "${prebuilt()}"\nrpc_servers = ["${server.endpoint}"]`,
      }],
      models: `[[models]]\nid = "big"\nsource = "big.gguf"\n`,
    });
    try {
      const r = await f.openai().chat.completions.create({
        model: "big",
        messages: user("hi"),
        max_tokens: 4,
      });
      assertEquals(r.usage?.completion_tokens, 4);
      const status = StatusSchema.parse(await f.status());
      const big = status.neurons[0].models.find((m) => m.id === "big")!;
      assertEquals(big.split?.shares.map((s) => s.device), ["CPU", "RPC0"]);
      const devices = new Map(status.neurons[0].devices.map((d) => [d.name, d]));
      for (const s of big.split!.shares) {
        assert(s.layers > 0);
        assertEquals(devices.get(s.device)!.memory_used_bytes, s.memory_bytes, s.device);
      }
      const text = renderStatus(status);
      assertMatch(text, /^n\s+big\s+loaded\s+CPU \(layer split, \d\/8 layers\)/m);
      assertMatch(text, /^n\s+big\s+loaded\s+RPC0 \(layer split, \d\/8 layers\)/m);
      assertMatch(text, /^n\s+RPC0\s+gpu \(rpc\)\s+ok/m);

      // The server is lost: the next request over it fails, and the gateway's view follows
      // the neuron's once it polls: the model failed, RPC0 failed, the CPU share still held.
      await server.kill();
      const lost = await f.openai().chat.completions.create({
        model: "big",
        messages: user("hi"),
        max_tokens: 4,
      }).then(() => null, (e) => e);
      assertMatch(String(lost?.message), /an RPC server was lost/);
      let after = StatusSchema.parse(await f.status());
      for (let i = 0; i < 100 && after.neurons[0].models.some((m) => m.state !== "failed"); i++) {
        await new Promise((r) => setTimeout(r, 100)); // the gateway polls every 200 ms
        after = StatusSchema.parse(await f.status());
      }
      assertEquals(after.neurons[0].models.map((m) => [m.id, m.state]), [["big", "failed"]]);
      const now = new Map(after.neurons[0].devices.map((d) => [d.name, d]));
      assertEquals(now.get("RPC0")!.state, "failed");
      const cpuShare = big.split!.shares.find((s) => s.device === "CPU")!.memory_bytes;
      assertEquals(now.get("CPU")!.memory_used_bytes, cpuShare);
      assertMatch(renderStatus(after), /^n\s+RPC0\s+gpu \(rpc\)\s+failed/m);
      // Asked again: unavailable (503), not a 5xx from a load attempt over the lost server.
      const again = await f.openai().chat.completions.create({
        model: "big",
        messages: user("hi"),
        max_tokens: 4,
      }).then(() => null, (e) => e);
      assertEquals(again?.status, 503);
      assertMatch(String(again?.message), /model big is configured but no live neuron can load it/);
    } finally {
      await f.stop();
      await server.kill();
    }
  },
});
