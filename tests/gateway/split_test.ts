/**
 * The gateway places a model that fits neither of a neuron's devices alone: the neuron's
 * CPU and the device of a real `ggml-rpc-server` on loopback together hold it, so the first
 * request cold-loads it split (the gateway names no device; the neuron plans the layers),
 * answers, and `cortex status` shows it on each of its devices.
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
    } finally {
      await f.stop();
      await server.kill();
    }
  },
});
