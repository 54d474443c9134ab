import assert from "node:assert/strict";
import type { Device, NeuronModel } from "../core/neuron/mod.ts";
import { neuronModel } from "../tests/helpers/neuron_model.ts";
import {
  defragDue,
  type FleetSnapshot,
  idleExpiry,
  idleVictims,
  type NeuronSnapshot,
  pickHolder,
  type Placement,
  type PlacementInput,
  planPlacement,
  rankHolders,
  requiredBytes,
  type ResidentFacts,
} from "./placement.ts";

const GIB = 1024 ** 3;

function device(name: string, freeGiB: number, over: Partial<Device> = {}): Device {
  return {
    name,
    description: name,
    type: "gpu",
    state: "ok",
    error: null,
    memory_total_bytes: 24 * GIB,
    memory_free_bytes: freeGiB * GIB,
    memory_budget_bytes: null,
    memory_used_bytes: 0,
    temperature_c: null,
    utilization_percent: null,
    ...over,
  };
}

function model(
  id: string,
  dev: string | null,
  memGiB: number | null,
  over: Partial<NeuronModel> = {},
): NeuronModel {
  return neuronModel({
    id,
    device: dev,
    size_bytes: 1 * GIB,
    memory_bytes: memGiB === null ? null : memGiB * GIB,
    loaded_at: 1,
    ...over,
  });
}

function neuron(
  name: string,
  devices: Device[],
  models: NeuronModel[] = [],
  up = true,
): NeuronSnapshot {
  return { name, up, devices, models };
}

function facts(neuronName: string, m: string, over: Partial<ResidentFacts> = {}): ResidentFacts {
  return { neuron: neuronName, model: m, lastUsedMs: 0, inFlight: 0, priority: 0, ...over };
}

const noInFlight = () => 0;

function plan(over: Partial<PlacementInput> & { snapshot: FleetSnapshot }): Placement {
  return planPlacement({
    profile: { id: "new", pinned_on: [], residency_priority: 0 },
    needBytes: 8 * GIB,
    residents: [],
    strategy: "lru",
    ...over,
  });
}

function assertNone(p: Placement, code: string): string {
  assert.equal(p.kind, "none", `expected none, got ${JSON.stringify(p)}`);
  if (p.kind !== "none") throw new Error("unreachable");
  assert.equal(p.code, code, p.reason);
  return p.reason;
}

// --- pickHolder -------------------------------------------------------------

Deno.test("pickHolder: least loaded counting neuron in_flight + queued + gateway in-flight", () => {
  const snapshot = [
    neuron("a", [device("GPU0", 4)], [model("m", "GPU0", 4, { in_flight: 1, queued: 1 })]),
    neuron("b", [device("GPU0", 4)], [model("m", "GPU0", 4, { in_flight: 1 })]),
    neuron("c", [device("GPU0", 4)], [model("m", "GPU0", 4)]),
  ];
  // c has nothing on the neuron but three in flight through the gateway.
  const gw = (n: string) => (n === "c" ? 3 : 0);
  assert.deepEqual(pickHolder("m", snapshot, gw), { neuron: "b", device: "GPU0", load: 1 });
  assert.deepEqual(rankHolders("m", snapshot, gw).map((h) => [h.neuron, h.load]), [
    ["b", 1],
    ["a", 2],
    ["c", 3],
  ]);
});

Deno.test("pickHolder: ties broken by name, whatever the snapshot order", () => {
  const snapshot = [
    neuron("zeta", [device("GPU0", 4)], [model("m", "GPU0", 4)]),
    neuron("alpha", [device("GPU0", 4)], [model("m", "GPU0", 4)]),
  ];
  assert.equal(pickHolder("m", snapshot, noInFlight)?.neuron, "alpha");
});

Deno.test("pickHolder: skips down neurons, non-loaded states, failed devices and excluded", () => {
  const snapshot = [
    neuron("down", [device("GPU0", 4)], [model("m", "GPU0", 4)], false),
    neuron("loading", [device("GPU0", 4)], [model("m", "GPU0", 4, { state: "loading" })]),
    neuron("failed-dev", [device("GPU0", 4, { state: "failed", error: "xid 79" })], [
      model("m", "GPU0", 4),
    ]),
    neuron("other", [device("GPU0", 4)], [model("x", "GPU0", 4)]),
    neuron("tried", [device("GPU0", 4)], [model("m", "GPU0", 4)]),
    neuron("good", [device("GPU0", 4)], [model("m", "GPU0", 4, { in_flight: 9 })]),
  ];
  assert.equal(pickHolder("m", snapshot, noInFlight)?.neuron, "tried");
  assert.equal(pickHolder("m", snapshot, noInFlight, new Set(["tried"]))?.neuron, "good");
  assert.equal(pickHolder("m", snapshot, noInFlight, new Set(["tried", "good"])), null);
  assert.equal(pickHolder("nope", snapshot, noInFlight), null);
});

// --- requiredBytes ----------------------------------------------------------

Deno.test("requiredBytes: vram_mb, then the neuron estimate, then size × 1.2, else null", () => {
  const entries = [
    { memory_bytes: null, size_bytes: 1000 },
    { memory_bytes: 3000, size_bytes: 1000 },
    { memory_bytes: 2500, size_bytes: 1000 },
  ];
  assert.equal(requiredBytes({ vram_mb: 10 }, entries), 10 * 1024 * 1024);
  assert.equal(requiredBytes({}, entries), 3000);
  assert.equal(requiredBytes({}, [{ memory_bytes: null, size_bytes: 1000 }]), 1200);
  assert.equal(requiredBytes({}, []), null);
});

// --- planPlacement: fits ----------------------------------------------------

Deno.test("planPlacement: fits on the device with the most free memory", () => {
  const p = plan({
    snapshot: [
      neuron("a", [device("GPU0", 10), device("GPU1", 20)]),
      neuron("b", [device("GPU0", 15)]),
      neuron("c", [device("GPU0", 2)]),
    ],
  });
  assert.deepEqual(p, { kind: "fits", neuron: "a", device: "GPU1", freeBytes: 20 * GIB });
});

Deno.test("planPlacement: a neuron with room wins over evicting anything elsewhere", () => {
  const p = plan({
    snapshot: [
      neuron("busy", [device("GPU0", 0)], [model("old", "GPU0", 20)]),
      neuron("roomy", [device("GPU0", 8)]),
    ],
  });
  assert.deepEqual(p, { kind: "fits", neuron: "roomy", device: "GPU0", freeBytes: 8 * GIB });
});

Deno.test("planPlacement: down neurons and failed devices are ignored", () => {
  const p = plan({
    snapshot: [
      neuron("down", [device("GPU0", 30)], [], false),
      neuron("sick", [device("GPU0", 30, { state: "failed", error: "lost" })]),
      neuron("ok", [device("GPU0", 9)]),
    ],
  });
  assert.equal(p.kind, "fits");
  assert.equal(p.kind === "fits" && p.neuron, "ok");
});

Deno.test("planPlacement: pinned_on restricts neurons", () => {
  const p = plan({
    profile: { id: "new", pinned_on: ["small"], residency_priority: 0 },
    snapshot: [neuron("big", [device("GPU0", 40)]), neuron("small", [device("GPU0", 9)])],
  });
  assert.equal(p.kind === "fits" && p.neuron, "small");
});

// --- planPlacement: evict ---------------------------------------------------

Deno.test("planPlacement lru: least recently used go first, only as many as needed", () => {
  const snapshot = [neuron("a", [device("GPU0", 2)], [
    model("recent", "GPU0", 4),
    model("oldest", "GPU0", 4),
    model("middle", "GPU0", 4),
  ])];
  const residents = [
    facts("a", "recent", { lastUsedMs: 300 }),
    facts("a", "oldest", { lastUsedMs: 100 }),
    facts("a", "middle", { lastUsedMs: 200 }),
  ];
  const p = plan({ snapshot, residents, needBytes: 9 * GIB });
  assert.deepEqual(p, {
    kind: "evict",
    neuron: "a",
    device: "GPU0",
    freeBytes: 2 * GIB,
    victims: [{ model: "oldest", bytes: 4 * GIB }, { model: "middle", bytes: 4 * GIB }],
    evictBytes: 8 * GIB,
  });
});

Deno.test("planPlacement lru: the neuron's own last_used counts when it is later", () => {
  const snapshot = [neuron("a", [device("GPU0", 0)], [
    model("x", "GPU0", 8, { last_used: 900 }), // used directly on the neuron
    model("y", "GPU0", 8),
  ])];
  const residents = [facts("a", "x", { lastUsedMs: 100 }), facts("a", "y", { lastUsedMs: 500 })];
  const p = plan({ snapshot, residents });
  assert.equal(p.kind, "evict");
  assert.deepEqual(p.kind === "evict" && p.victims.map((v) => v.model), ["y"]);
});

Deno.test("planPlacement priority: lowest priority first, then least recently used", () => {
  const snapshot = [neuron("a", [device("GPU0", 0)], [
    model("p1-old", "GPU0", 8),
    model("p0-new", "GPU0", 8),
    model("p0-newer", "GPU0", 8),
  ])];
  const residents = [
    facts("a", "p1-old", { lastUsedMs: 1, priority: 1 }),
    facts("a", "p0-new", { lastUsedMs: 50, priority: 0 }),
    facts("a", "p0-newer", { lastUsedMs: 60, priority: 0 }),
  ];
  const profile = { id: "new", pinned_on: [], residency_priority: 1 };
  const byPriority = plan({ snapshot, residents, profile, strategy: "priority" });
  assert.deepEqual(byPriority.kind === "evict" && byPriority.victims.map((v) => v.model), [
    "p0-new",
  ]);
  // The same fleet under lru takes the oldest regardless of priority.
  const byLru = plan({ snapshot, residents, profile, strategy: "lru" });
  assert.deepEqual(byLru.kind === "evict" && byLru.victims.map((v) => v.model), ["p1-old"]);
});

Deno.test("planPlacement: models loaded outside models.toml count as priority 0", () => {
  // No facts for "stray": priority 0, so a priority-0 model may displace it.
  const snapshot = [neuron("a", [device("GPU0", 0)], [model("stray", "GPU0", 8)])];
  const p = plan({ snapshot });
  assert.deepEqual(p.kind === "evict" && p.victims, [{ model: "stray", bytes: 8 * GIB }]);
});

Deno.test("planPlacement: a model in use (gateway, neuron in_flight or queued) is never evicted", () => {
  const snapshot = [neuron("a", [device("GPU0", 0)], [
    model("gw-busy", "GPU0", 8),
    model("neuron-busy", "GPU0", 8, { in_flight: 1 }),
    model("queued", "GPU0", 8, { queued: 2 }),
    model("idle", "GPU0", 8),
  ])];
  const residents = [
    facts("a", "gw-busy", { lastUsedMs: 1, inFlight: 1 }),
    facts("a", "neuron-busy", { lastUsedMs: 2 }),
    facts("a", "queued", { lastUsedMs: 3 }),
    facts("a", "idle", { lastUsedMs: 999 }),
  ];
  const p = plan({ snapshot, residents });
  assert.deepEqual(p.kind === "evict" && p.victims.map((v) => v.model), ["idle"]);
  const p2 = plan({ snapshot, residents, needBytes: 16 * GIB });
  assertNone(p2, "busy");
});

Deno.test("planPlacement: higher-priority and pinned residents are never evicted for a lower one", () => {
  const snapshot = [neuron("a", [device("GPU0", 0)], [
    model("vip", "GPU0", 8),
    model("pinned", "GPU0", 8),
  ])];
  const residents = [
    facts("a", "vip", { priority: 5 }),
    facts("a", "pinned", { priority: 0, pinned: true }),
  ];
  const low = { id: "new", pinned_on: [], residency_priority: 1 };
  const reason = assertNone(plan({ snapshot, residents, profile: low }), "outranked");
  assert.match(reason, /higher residency_priority than 1/);
  assert.match(reason, /vip, pinned/);
  // Same priority may displace it.
  const peer = { id: "new", pinned_on: [], residency_priority: 5 };
  const p = plan({ snapshot, residents, profile: peer });
  assert.deepEqual(p.kind === "evict" && p.victims.map((v) => v.model), ["vip"]);
});

Deno.test("planPlacement: loading models are never victims and only same-device models count", () => {
  const snapshot = [neuron("a", [device("GPU0", 0), device("GPU1", 0)], [
    model("coming", "GPU0", 8, { state: "loading" }),
    model("elsewhere", "GPU1", 4),
  ])];
  const p = plan({ snapshot });
  assertNone(p, "loading");
  // GPU1's 4 GiB model is evictable but cannot free 8 GiB on its own.
  const reason = p.kind === "none" ? p.reason : "";
  assert.match(reason, /a\/GPU1: 0 B free, 4\.00 GiB evictable \(elsewhere\)/);
});

Deno.test("planPlacement: across neurons the plan evicting the fewest bytes, then models, wins", () => {
  const snapshot = [
    neuron("a", [device("GPU0", 1)], [model("a1", "GPU0", 10)]),
    neuron("b", [device("GPU0", 4)], [model("b1", "GPU0", 2), model("b2", "GPU0", 2)]),
    neuron("c", [device("GPU0", 0)], [model("c1", "GPU0", 4), model("c2", "GPU0", 4)]),
    neuron("d", [device("GPU0", 4)], [model("d1", "GPU0", 4)]),
  ];
  const residents = [
    facts("b", "b1", { lastUsedMs: 1 }),
    facts("b", "b2", { lastUsedMs: 2 }),
  ];
  // a frees 10, b frees 4 with two models, c frees 8, d frees 4 with one model.
  const p = plan({ snapshot, residents });
  assert.equal(p.kind, "evict");
  assert.equal(p.kind === "evict" && p.neuron, "d");
  assert.deepEqual(p.kind === "evict" && p.victims, [{ model: "d1", bytes: 4 * GIB }]);
  // Without d, b (4 GiB, two models) beats c (8 GiB) and a (10 GiB).
  const p2 = plan({ snapshot: snapshot.slice(0, 3), residents });
  assert.equal(p2.kind === "evict" && p2.neuron, "b");
  assert.equal(p2.kind === "evict" && p2.evictBytes, 4 * GIB);
});

Deno.test("planPlacement: a model without memory_bytes frees its file size", () => {
  const snapshot = [neuron("a", [device("GPU0", 7)], [
    model("unknown-size", "GPU0", null, { size_bytes: 1 * GIB }),
  ])];
  const p = plan({ snapshot });
  assert.deepEqual(p.kind === "evict" && p.victims, [{ model: "unknown-size", bytes: 1 * GIB }]);
});

// --- planPlacement: none ----------------------------------------------------

Deno.test("planPlacement none: pinned neuron down names the pins", () => {
  const reason = assertNone(
    plan({
      profile: { id: "big", pinned_on: ["gpu-box"], residency_priority: 0 },
      snapshot: [
        neuron("gpu-box", [device("GPU0", 40)], [], false),
        neuron("other", [
          device("GPU0", 40),
        ]),
      ],
    }),
    "pinned_down",
  );
  assert.match(reason, /"big".*pinned to gpu-box, and all are down/);
});

Deno.test("planPlacement none: pins naming no known neuron, no neurons, all down, no device", () => {
  assert.match(
    assertNone(
      plan({
        profile: { id: "m", pinned_on: ["ghost"], residency_priority: 0 },
        snapshot: [neuron("a", [device("GPU0", 40)])],
      }),
      "pinned_unknown",
    ),
    /pinned_on lists ghost/,
  );
  assertNone(plan({ snapshot: [] }), "no_neurons");
  assert.match(
    assertNone(
      plan({ snapshot: [neuron("a", [], [], false), neuron("b", [], [], false)] }),
      "all_down",
    ),
    /every neuron is down \(a, b\)/,
  );
  assert.match(
    assertNone(
      plan({ snapshot: [neuron("a", [device("GPU0", 40, { state: "failed", error: "x" })])] }),
      "no_device",
    ),
    /no healthy device on a/,
  );
});

Deno.test("planPlacement none: too large even after evicting everything, with numbers", () => {
  const snapshot = [
    neuron("a", [device("GPU0", 2)], [model("m1", "GPU0", 4)]),
    neuron("b", [device("GPU0", 6)]),
  ];
  const reason = assertNone(plan({ snapshot, needBytes: 30 * GIB }), "too_large");
  assert.match(reason, /needs 30\.00 GiB/);
  assert.match(reason, /even with every model unloaded/);
  assert.match(reason, /a\/GPU0: 2\.00 GiB free, 4\.00 GiB evictable \(m1\)/);
  assert.match(reason, /b\/GPU0: 6\.00 GiB free/);
});

Deno.test("planPlacement none: busy is reported over outranked when idling would suffice", () => {
  const snapshot = [
    neuron("a", [device("GPU0", 0)], [model("vip", "GPU0", 10)]),
    neuron("b", [device("GPU0", 0)], [model("worker", "GPU0", 10, { in_flight: 2 })]),
  ];
  const residents = [facts("a", "vip", { priority: 9 })];
  const reason = assertNone(plan({ snapshot, residents }), "busy");
  assert.match(reason, /in use; retry/);
  assert.match(reason, /b\/GPU0: 0 B free, 10\.00 GiB in use \(worker\)/);
});

Deno.test("planPlacement: rejects a needBytes that is not a positive number", () => {
  const snapshot = [neuron("a", [device("GPU0", 10)])];
  assert.throws(() => plan({ snapshot, needBytes: 0 }), /needBytes/);
  assert.throws(() => plan({ snapshot, needBytes: NaN }), /needBytes/);
});

// --- idleVictims ------------------------------------------------------------

Deno.test("idleVictims: idle longer than the TTL, not in use, not pinned, longest idle first", () => {
  const snapshot = [
    neuron("a", [device("GPU0", 0)], [
      model("stale", "GPU0", 4),
      model("staler", "GPU0", 4),
      model("fresh", "GPU0", 4),
      model("edge", "GPU0", 4),
      model("busy", "GPU0", 4, { queued: 1 }),
      model("gw-busy", "GPU0", 4),
      model("pinned", "GPU0", 4),
      model("loading", "GPU0", 4, { state: "loading" }),
      model("outside", "GPU0", 4, { loaded_at: 1_000 }), // no gateway facts: load time counts
    ]),
    neuron("down", [device("GPU0", 0)], [model("gone", "GPU0", 4)], false),
  ];
  const residents = [
    facts("a", "stale", { lastUsedMs: 5_000 }),
    facts("a", "staler", { lastUsedMs: 2_000 }),
    facts("a", "fresh", { lastUsedMs: 9_500 }),
    facts("a", "edge", { lastUsedMs: 7_000 }), // exactly the TTL: not longer
    facts("a", "busy", { lastUsedMs: 0 }),
    facts("a", "gw-busy", { lastUsedMs: 0, inFlight: 1 }),
    facts("a", "pinned", { lastUsedMs: 0, pinned: true }),
    facts("down", "gone", { lastUsedMs: 0 }),
  ];
  const v = idleVictims({ snapshot, residents, now: 10_000, idleTtlMs: 3_000 });
  assert.deepEqual(v.map((x) => [x.model, x.idleMs]), [
    ["outside", 9_000],
    ["staler", 8_000],
    ["stale", 5_000],
  ]);
  assert.deepEqual(v[0], {
    neuron: "a",
    model: "outside",
    device: "GPU0",
    bytes: 4 * GIB,
    idleMs: 9_000,
  });
  assert.deepEqual(idleVictims({ snapshot, residents, now: 10_000, idleTtlMs: 0 }), []);
  assert.throws(() => idleVictims({ snapshot, residents, now: 0, idleTtlMs: -1 }), /idleTtlMs/);
});

Deno.test("idleVictims: a resident's own keep_alive TTL beats idle_ttl, off or not", () => {
  const snapshot = [
    neuron("a", [device("GPU0", 0)], [
      model("short", "GPU0", 4),
      model("forever", "GPU0", 4),
      model("default", "GPU0", 4),
    ]),
  ];
  const residents = [
    facts("a", "short", { lastUsedMs: 8_000, idleTtlMs: 1_000 }),
    facts("a", "forever", { lastUsedMs: 0, idleTtlMs: Infinity }),
    facts("a", "default", { lastUsedMs: 5_000 }),
  ];
  const victims = (idleTtlMs: number) =>
    idleVictims({ snapshot, residents, now: 10_000, idleTtlMs }).map((v) => v.model);
  assert.deepEqual(victims(0), ["short"]);
  assert.deepEqual(victims(3_000), ["default", "short"]);
});

Deno.test("idleExpiry: last use plus the TTL; from now while busy; null for never", () => {
  const m = model("m", "GPU0", 4);
  const at = (over: Partial<ResidentFacts>, ttl = 3_000, seen = [facts("a", "m", over)]) =>
    idleExpiry("a", m, seen, 10_000, ttl);
  assert.equal(at({ lastUsedMs: 9_000 }), 12_000);
  assert.equal(at({ lastUsedMs: 9_000, idleTtlMs: 60_000 }), 69_000);
  assert.equal(at({ lastUsedMs: 9_000, inFlight: 1 }), 13_000);
  assert.equal(at({ lastUsedMs: 9_000 }, 0), null, "idle_ttl off");
  assert.equal(at({ lastUsedMs: 9_000, idleTtlMs: Infinity }), null, "keep_alive < 0");
  assert.equal(at({ lastUsedMs: 9_000, pinned: true }), null, "pinned");
  // No gateway facts (loaded outside it): its load time counts as its last use.
  assert.equal(at({}, 3_000, []), 3_001);
});

// --- defragDue --------------------------------------------------------------

Deno.test("defragDue: neurons at or over the threshold, sorted; 0 turns it off", () => {
  const cycles = new Map([["c", 9], ["a", 3], ["b", 2]]);
  assert.deepEqual(defragDue(cycles, 3), ["a", "c"]);
  assert.deepEqual(defragDue(cycles, 10), []);
  assert.deepEqual(defragDue(cycles, 0), []);
  assert.throws(() => defragDue(cycles, 1.5), /threshold/);
});

const NEW5 = { id: "new", pinned_on: [], residency_priority: 5 };

Deno.test("planPlacement: with the gateway's split, a stale polled in_flight no longer makes a model busy", () => {
  // The poll ran while the gateway's own request to "low" was in flight; it has ended since.
  const snapshot = [neuron("a", [device("GPU0", 0)], [
    model("high", "GPU0", 8),
    model("low", "GPU0", 8, { in_flight: 1 }),
  ])];
  const residents = [
    facts("a", "high", { lastUsedMs: 1, priority: 5, outside: 0 }),
    facts("a", "low", { lastUsedMs: 2, priority: 1, outside: 0 }),
  ];
  const p = plan({ snapshot, residents, strategy: "priority", profile: NEW5 });
  assert.deepEqual(p.kind === "evict" && p.victims.map((v) => v.model), ["low"]);
  // Requests others sent it directly still count.
  residents[1] = facts("a", "low", { lastUsedMs: 2, priority: 1, outside: 1 });
  const p2 = plan({ snapshot, residents, strategy: "priority", profile: NEW5 });
  assert.deepEqual(p2.kind === "evict" && p2.victims.map((v) => v.model), ["high"]);
});

Deno.test("planPlacement: a held victim is waited for, never swapped for another; includeBusy plans the wait", () => {
  const snapshot = [neuron("a", [device("GPU0", 0)], [
    model("high", "GPU0", 8),
    model("low", "GPU0", 8),
  ])];
  const residents = [
    facts("a", "high", { lastUsedMs: 1, priority: 5, outside: 0 }),
    facts("a", "low", { lastUsedMs: 2, priority: 1, outside: 0, held: true }),
  ];
  assertNone(plan({ snapshot, residents, strategy: "priority", profile: NEW5 }), "busy");
  const wait = plan({
    snapshot,
    residents,
    strategy: "priority",
    profile: NEW5,
    includeBusy: true,
  });
  assert.deepEqual(wait.kind === "evict" && wait.victims, [
    { model: "low", bytes: 8 * GIB, busy: true },
  ]);
  // Busy (in flight) ones come after the idle ones in a wait plan.
  residents[1] = facts("a", "low", { lastUsedMs: 2, priority: 1, inFlight: 1, outside: 0 });
  const p = plan({ snapshot, residents, strategy: "priority", profile: NEW5, includeBusy: true });
  assert.deepEqual(p.kind === "evict" && p.victims.map((v) => [v.model, v.busy]), [
    ["high", undefined],
  ]);
});

// --- planPlacement: splits across a neuron's devices ------------------------

/** A model split over devices: GiB per device. */
function splitModel(id: string, shares: Record<string, number>, over: Partial<NeuronModel> = {}) {
  const names = Object.keys(shares);
  const total = names.reduce((a, n) => a + shares[n], 0);
  return model(id, names[0], total, {
    split: {
      mode: "layer",
      shares: names.map((device) => ({ device, layers: 1, memory_bytes: shares[device] * GIB })),
    },
    ...over,
  });
}

Deno.test("planPlacement split: fits no device alone, a neuron's devices together have room", () => {
  const p = plan({
    needBytes: 30 * GIB,
    snapshot: [
      neuron("one", [device("GPU0", 24)]),
      neuron("two", [device("GPU0", 16), device("GPU1", 16)]),
      neuron("three", [device("GPU0", 12), device("GPU1", 12), device("RPC0", 12)]),
    ],
  });
  // The most free together: three (36 GiB) over two (32 GiB); one device never is a split.
  assert.deepEqual(p, {
    kind: "fits",
    neuron: "three",
    device: "GPU0+GPU1+RPC0",
    split: ["GPU0", "GPU1", "RPC0"],
    freeBytes: 36 * GIB,
  });
});

Deno.test("planPlacement split: one device that fits wins over a split with more room", () => {
  const p = plan({
    needBytes: 10 * GIB,
    snapshot: [
      neuron("a", [device("GPU0", 11)]),
      neuron("b", [device("GPU0", 20), device("GPU1", 20)]),
    ],
  });
  assert.deepEqual(p, { kind: "fits", neuron: "b", device: "GPU0", freeBytes: 20 * GIB });
  const q = plan({
    needBytes: 10 * GIB,
    snapshot: [
      neuron("a", [device("GPU0", 11)]),
      neuron("b", [device("GPU0", 9), device("GPU1", 9)]),
    ],
  });
  assert.deepEqual(q, { kind: "fits", neuron: "a", device: "GPU0", freeBytes: 11 * GIB });
});

Deno.test("planPlacement split: a split with room wins over evicting for one device", () => {
  const p = plan({
    needBytes: 20 * GIB,
    snapshot: [
      neuron("a", [device("GPU0", 4)], [model("old", "GPU0", 20)]),
      neuron("b", [device("GPU0", 12), device("GPU1", 12)]),
    ],
  });
  assert.equal(p.kind, "fits");
  assert.deepEqual(p.kind === "fits" && p.split, ["GPU0", "GPU1"]);
});

Deno.test("planPlacement split: eviction over a neuron's devices, same order rules, shares freed", () => {
  // 40 GiB over two 24 GiB devices: a split resident (10+10) and single ones on each.
  const snapshot = [neuron("a", [device("GPU0", 4), device("GPU1", 4)], [
    splitModel("wide", { GPU0: 10, GPU1: 10 }),
    model("left", "GPU0", 10),
    model("right", "GPU1", 10),
  ])];
  const residents = [
    facts("a", "wide", { lastUsedMs: 3 }),
    facts("a", "left", { lastUsedMs: 1 }),
    facts("a", "right", { lastUsedMs: 2 }),
  ];
  const p = plan({ snapshot, residents, needBytes: 40 * GIB });
  assert.equal(p.kind, "evict", JSON.stringify(p));
  if (p.kind !== "evict") return;
  assert.deepEqual(p.split, ["GPU0", "GPU1"]);
  assert.equal(p.device, "GPU0+GPU1");
  // LRU: left, right, then wide (its 20 GiB freed across both devices).
  assert.deepEqual(p.victims, [
    { model: "left", bytes: 10 * GIB },
    { model: "right", bytes: 10 * GIB },
    { model: "wide", bytes: 20 * GIB },
  ]);
  assert.equal(p.evictBytes, 40 * GIB);
  // Priority strategy: the priority-0 wide goes before the priority-1 singles.
  const q = plan({
    snapshot,
    residents: [
      facts("a", "wide", { lastUsedMs: 3, priority: 0 }),
      facts("a", "left", { lastUsedMs: 1, priority: 1 }),
      facts("a", "right", { lastUsedMs: 2, priority: 1 }),
    ],
    needBytes: 20 * GIB,
    strategy: "priority",
    profile: { id: "new", pinned_on: [], residency_priority: 1 },
  });
  assert.deepEqual(q.kind === "evict" && q.victims, [{ model: "wide", bytes: 20 * GIB }]);
});

Deno.test("planPlacement split: a split resident frees only its share on a single device", () => {
  // GPU1 needs 8 GiB: wide holds 6 there (and 10 on GPU0), small holds 7 on GPU1 alone.
  const snapshot = [neuron("a", [device("GPU0", 0), device("GPU1", 2)], [
    splitModel("wide", { GPU0: 10, GPU1: 6 }),
    model("small", "GPU1", 7),
  ])];
  const residents = [facts("a", "wide", { lastUsedMs: 1 }), facts("a", "small", { lastUsedMs: 2 })];
  const p = plan({ snapshot, residents, needBytes: 8 * GIB });
  assert.equal(p.kind, "evict", JSON.stringify(p));
  // Single-device plans: GPU1 evicting wide (6 GiB there) beats the split plan freeing 16.
  assert.deepEqual(p.kind === "evict" && [p.device, p.victims], [
    "GPU1",
    [{ model: "wide", bytes: 6 * GIB }],
  ]);
});

Deno.test("planPlacement split: too large for a neuron's devices together names each device", () => {
  const snapshot = [neuron("a", [device("GPU0", 10), device("GPU1", 10)])];
  const reason = assertNone(plan({ snapshot, needBytes: 30 * GIB }), "too_large");
  assert.match(reason, /a\/GPU0\+GPU1: 20\.00 GiB free/);
});

Deno.test("planPlacement split: a profile asking for a split takes no single device", () => {
  const snapshot = [
    neuron("a", [device("GPU0", 24)]),
    neuron("b", [device("GPU0", 10), device("GPU1", 10)]),
    neuron("c", [device("GPU0", 12), device("RPC0", 12)]),
  ];
  const split = { id: "new", pinned_on: [], residency_priority: 0, split: "layer" as const };
  const p = plan({ snapshot, needBytes: 8 * GIB, profile: split });
  assert.deepEqual(p.kind === "fits" && [p.neuron, p.split], ["c", ["GPU0", "RPC0"]]);
  // Named devices: only a neuron with all of them, in the order named.
  const named = { ...split, devices: ["GPU1", "GPU0"] };
  const q = plan({ snapshot, needBytes: 8 * GIB, profile: named });
  assert.deepEqual(q.kind === "fits" && [q.neuron, q.split], ["b", ["GPU1", "GPU0"]]);
  const r = plan({
    snapshot,
    needBytes: 8 * GIB,
    profile: { ...split, devices: ["GPU0", "GPU9"] },
  });
  assert.match(assertNone(r, "no_device"), /split over GPU0, GPU9, and no allowed neuron/);
});

Deno.test("planPlacement split: an RPC device takes shares of splits, never a whole model", () => {
  const rpc = device("RPC0", 30, { remote: true });
  const snapshot = [neuron("a", [device("CPU", 6, { type: "cpu" }), rpc])];
  // 20 GiB fits RPC0 alone, but it cannot run a model: a split with the CPU.
  const p = plan({ snapshot, needBytes: 20 * GIB });
  assert.deepEqual(p.kind === "fits" && [p.device, p.split], ["CPU+RPC0", ["CPU", "RPC0"]]);
  // Evicting only from RPC0 is no single-device plan either.
  const busy = [
    neuron("a", [device("CPU", 1, { type: "cpu" }), device("RPC0", 1, { remote: true })], [
      splitModel("old", { CPU: 4, RPC0: 20 }),
    ]),
  ];
  const q = plan({ snapshot: busy, needBytes: 20 * GIB });
  assert.equal(q.kind, "evict", JSON.stringify(q));
  assert.deepEqual(q.kind === "evict" && q.split, ["CPU", "RPC0"]);
});
