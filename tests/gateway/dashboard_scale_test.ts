/**
 * The dashboard at fleet scale (50 neurons, 200 models, a synthetic fleet): 50 open event
 * streams keep the gateway's memory flat, each update is built once whatever the number of
 * subscribers, a stalled reader is cut off; and the page in headless Chromium renders the whole
 * fleet and keeps answering while updates stream in.
 */

import v8 from "node:v8";
import vm from "node:vm";
import { assert, assertEquals } from "../assert.ts";
import type { Device, NeuronModel } from "../../core/neuron/schemas.ts";
import {
  createDashboard,
  DashboardHub,
  eventStream,
  type HubSources,
} from "../../gateway/dashboard/mod.ts";
import type { NeuronState } from "../../gateway/fleet.ts";
import { launchBrowser } from "../helpers/browser.ts";
import { neuronModel } from "../helpers/neuron_model.ts";

/** A fleet of `neurons` neurons holding `perNeuron` models each, as the hub reads it. */
function bigFleet(neurons: number, perNeuron: number) {
  const MiB = 1 << 20;
  const states = Array.from({ length: neurons }, (_, i): NeuronState => {
    const models: NeuronModel[] = Array.from(
      { length: perNeuron },
      (_, j) => neuronModel({ id: `model-${i * perNeuron + j}`, memory_bytes: 900 * MiB }),
    );
    const device: Device = {
      name: "CUDA0",
      description: "test GPU",
      type: "gpu",
      state: "ok",
      error: null,
      memory_total_bytes: 24 << 30,
      memory_free_bytes: 20 << 30,
      memory_budget_bytes: null,
      memory_used_bytes: 4 << 30,
      temperature_c: null,
      utilization_percent: null,
    };
    for (const m of models) m.device = "CUDA0";
    return {
      client: { name: `neuron-${i}` },
      up: true,
      lastOk: 0,
      failingSince: 0,
      lastError: null,
      devices: [device],
      models,
      version: "test",
      outside: new Map(),
    } as unknown as NeuronState;
  });
  const changes: (() => void)[] = [];
  const src: HubSources = {
    fleet: { neurons: states, onChange: (fn: () => void) => changes.push(fn) },
    catalogue: {
      list: () =>
        states.flatMap((n) =>
          n.models.map((m) => ({ id: m.id, loadedOn: [n.client.name], storedOn: [] }))
        ),
    },
    queue: { lengths: () => new Map() },
    usage: { modelInFlight: () => 1 },
    metrics: { onObserved: () => {}, onFleetEvent: () => {} },
  };
  return { states, src, changed: () => changes.forEach((fn) => fn()) };
}

v8.setFlagsFromString("--expose-gc");
const gc = vm.runInNewContext("gc") as () => void;
const heapAfterGc = () => {
  gc();
  gc();
  return Deno.memoryUsage().heapUsed;
};

Deno.test({
  name: "50 open event streams over 50 neurons and 200 models keep the gateway's memory flat",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const fleet = bigFleet(50, 4);
    // Flushed by hand below: no timers between updates.
    const hub = new DashboardHub(fleet.src, { minGapMs: 60_000, sampleMs: 3_600_000 });
    const server = Deno.serve(
      { hostname: "127.0.0.1", port: 0, onListen() {} },
      (req) => eventStream(hub, req),
    );
    const url = `http://127.0.0.1:${server.addr.port}/`;
    /** One change the dashboard shows: every model's in-flight count moves. */
    let tick = 0;
    const update = () => {
      tick++;
      for (const n of fleet.states) for (const m of n.models) m.in_flight = tick % 7;
      fleet.changed();
      hub.flush();
      if (tick % 10 === 0) hub.sample();
    };
    try {
      for (let i = 0; i < 20; i++) update(); // no subscribers: nothing is built or sent
      assertEquals(hub.builds, 0);
      const idle = heapAfterGc();

      const ctl = new AbortController();
      const readers = await Promise.all(Array.from({ length: 50 }, async () => {
        const res = await fetch(url, { signal: ctl.signal });
        const r = { bytes: 0 };
        (async () => {
          const reader = res.body!.getReader();
          while (true) {
            const { value, done } = await reader.read();
            if (done) break;
            r.bytes += value.byteLength;
          }
        })().catch(() => {});
        return r;
      }));
      assertEquals(hub.subscribers, 50);
      const delivered = async () => {
        const before = readers.map((r) => r.bytes);
        update();
        const deadline = Date.now() + 10_000;
        while (readers.some((r, i) => r.bytes === before[i])) {
          if (Date.now() > deadline) throw new Error("an update did not reach every stream");
          await new Promise((r) => setTimeout(r, 2));
        }
      };
      for (let i = 0; i < 20; i++) await delivered(); // warm up
      const open = heapAfterGc();
      const builds = hub.builds;
      const sent = readers.reduce((a, r) => a + r.bytes, 0);
      const rounds = 200;
      for (let i = 0; i < rounds; i++) await delivered();
      const after = heapAfterGc();
      const moved = readers.reduce((a, r) => a + r.bytes, 0) - sent;
      // Built once per update (and per sample), not once per subscriber.
      assertEquals(hub.builds - builds, rounds + rounds / 10);
      const MiB = 1 << 20;
      console.log(
        `heap idle ${(idle / MiB).toFixed(1)} MiB, 50 streams open ${
          (open / MiB).toFixed(1)
        } MiB, ` +
          `after ${rounds} updates ${(after / MiB).toFixed(1)} MiB; ${
            (moved / MiB).toFixed(0)
          } MiB sent`,
      );
      // Flat: what went out (hundreds of MiB) is not held; a copy per stream per update would be.
      assert(moved > 100 * MiB, `only ${moved} bytes were sent`);
      assert(after - open < 16 * MiB, `heap grew ${((after - open) / MiB).toFixed(1)} MiB`);
      assert(open - idle < 32 * MiB, `50 streams cost ${((open - idle) / MiB).toFixed(1)} MiB`);

      // A dashboard that stops reading is cut off once its queue passes the bound.
      const stalled = hub.subscribe();
      assertEquals(hub.subscribers, 51);
      const frameBytes = moved / rounds / 50;
      // The hub's default bound is 8 MiB queued: half as much again is past it.
      for (let i = 0; i < Math.ceil(12 * MiB / frameBytes); i++) await delivered();
      assertEquals(hub.subscribers, 50, "a stalled stream stays subscribed");
      await stalled.cancel().catch(() => {});
      ctl.abort();
    } finally {
      hub.close();
      await server.shutdown();
    }
  },
});

Deno.test({
  name: "the page renders 50 neurons and 200 models and stays responsive under updates",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const fleet = bigFleet(50, 4);
    const dash = await createDashboard(fleet.src);
    const server = Deno.serve(
      { hostname: "127.0.0.1", port: 0, onListen() {} },
      (req) => {
        const path = new URL(req.url).pathname;
        return dash.asset(path) ??
          (path === "/cortex/events"
            ? eventStream(dash.hub, req)
            : new Response("not found", { status: 404 }));
      },
    );
    const browser = await launchBrowser();
    try {
      const { page } = browser;
      const t0 = Date.now();
      await page.goto(`http://127.0.0.1:${server.addr.port}/dashboard`);
      await page.waitFor(
        "the whole fleet",
        `document.querySelectorAll(".neuron").length === 50 &&
          document.querySelectorAll("#models tbody tr").length === 200`,
      );
      const firstRender = Date.now() - t0;
      // Updates at the hub's pace (4 a second); the page answers between them.
      let worst = 0;
      for (let i = 1; i <= 12; i++) {
        for (const n of fleet.states) for (const m of n.models) m.in_flight = i;
        fleet.changed();
        const t = Date.now();
        await page.waitFor(
          `update ${i}`,
          `document.querySelector('#models tr[data-key="model-199"] .inflight')
            ?.textContent === "${i}"`,
        );
        worst = Math.max(worst, Date.now() - t);
      }
      console.log(`first render ${firstRender} ms; slowest update on the page ${worst} ms`);
      assert(firstRender < 5000, `the first render took ${firstRender} ms`);
      assert(worst < 1500, `an update took ${worst} ms to show`);
      assertEquals(page.errors, []);
    } finally {
      await browser.close();
      dash.close();
      await server.shutdown();
    }
  },
});
