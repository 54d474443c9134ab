/**
 * Placement decisions over a fleet snapshot: which neuron serves a loaded
 * model, where a cold model loads and what leaves to make room, which models
 * the idle TTL unloads, and which neurons are due a defragmenting reload.
 *
 * Pure functions over plain data, no I/O: the poller supplies the snapshot,
 * the gateway its own per-model facts, and lifecycle/evictor act on the answer.
 */

import type { CortexConfig } from "../core/config/cortex_config.ts";
import type { ModelProfile } from "../core/config/models_config.ts";
import type { Device, NeuronModel } from "../core/neuron/mod.ts";

/** What the poller last saw of one neuron. */
export interface NeuronSnapshot {
  name: string;
  /** False once the neuron stopped answering; a down neuron is never chosen. */
  up: boolean;
  devices: readonly Device[];
  models: readonly NeuronModel[];
}

export type FleetSnapshot = readonly NeuronSnapshot[];

/** Gateway-side facts about one model resident on one neuron. */
export interface ResidentFacts {
  neuron: string;
  /** The id the model is served under on that neuron. */
  model: string;
  /** Epoch ms of the last request the gateway sent it (or of its load). */
  lastUsedMs: number;
  /** Requests the gateway is proxying to this model on this neuron right now. */
  inFlight: number;
  /** `residency_priority` of its profile; 0 for models loaded outside models.toml. */
  priority: number;
  /** Never unloaded by the gateway (neither to make room nor for idleness). */
  pinned?: boolean;
  /**
   * Requests the neuron reported beyond the gateway's own at the last poll
   * (sent to it directly). When given, the neuron's own in_flight / queued
   * counts (as old as the poll, and mostly the gateway's requests) are not
   * read; when absent they are, as the only evidence there is.
   */
  outside?: number;
  /** Not a victim for now although idle (its min_residency, or its queue about to be served). */
  held?: boolean;
  /** Its own idle unload (a client's `keep_alive`), ms; Infinity = never; absent = `idle_ttl`. */
  idleTtlMs?: number;
}

/** The gateway's own count of requests in flight to `model` on `neuron`. */
export type InFlightLookup = (neuron: string, model: string) => number;

export type EvictionStrategy = CortexConfig["eviction"]["strategy"];

const MIB = 1024 * 1024;
const GIB = 1024 * MIB;
/** Memory a store file needs when nothing better is known: weights plus ~20% for context. */
const SIZE_OVERHEAD = 1.2;

// ---------------------------------------------------------------------------
// Routing to a neuron that already holds the model

export interface Holder {
  neuron: string;
  device: string | null;
  /** Neuron-reported in_flight + queued plus the gateway's own in-flight count. */
  load: number;
}

/**
 * Every up neuron holding `model` loaded (on a healthy device), least loaded
 * first, ties by neuron name. `exclude` skips neurons already tried (retries).
 */
export function rankHolders(
  model: string,
  snapshot: FleetSnapshot,
  gatewayInFlight: InFlightLookup,
  exclude?: ReadonlySet<string>,
): Holder[] {
  const out: Holder[] = [];
  for (const n of snapshot) {
    if (!n.up || exclude?.has(n.name)) continue;
    for (const m of n.models) {
      if (m.id !== model || m.state !== "loaded") continue;
      if (m.device !== null && deviceFailed(n, m.device)) continue;
      out.push({
        neuron: n.name,
        device: m.device,
        load: m.in_flight + m.queued + gatewayInFlight(n.name, model),
      });
    }
  }
  return out.sort((a, b) => a.load - b.load || compareText(a.neuron, b.neuron));
}

/** The least-loaded up neuron holding `model` loaded, or null when none does. */
export function pickHolder(
  model: string,
  snapshot: FleetSnapshot,
  gatewayInFlight: InFlightLookup,
  exclude?: ReadonlySet<string>,
): Holder | null {
  return rankHolders(model, snapshot, gatewayInFlight, exclude)[0] ?? null;
}

function deviceFailed(n: NeuronSnapshot, device: string): boolean {
  return n.devices.some((d) => d.name === device && d.state === "failed");
}

// ---------------------------------------------------------------------------
// Memory a model needs

/**
 * Bytes to plan for: the profile's `vram_mb` when set; else the largest
 * `memory_bytes` the neurons report for the store file (their estimate at
 * default context/slots, or the accounted figure of a resident copy); else the
 * largest `size_bytes` × 1.2. Null when nothing is known (e.g. an `hf:` source
 * no neuron has downloaded yet).
 */
export function requiredBytes(
  profile: Pick<ModelProfile, "vram_mb">,
  entries: readonly Pick<NeuronModel, "memory_bytes" | "size_bytes">[],
): number | null {
  if (profile.vram_mb !== undefined) return profile.vram_mb * MIB;
  let estimate = -1;
  let size = -1;
  for (const e of entries) {
    if (e.memory_bytes !== null && e.memory_bytes > estimate) estimate = e.memory_bytes;
    if (e.size_bytes > size) size = e.size_bytes;
  }
  if (estimate > 0) return estimate;
  if (size > 0) return Math.ceil(size * SIZE_OVERHEAD);
  return null;
}

// ---------------------------------------------------------------------------
// Placing a cold model

export interface PlacementInput {
  profile:
    & Pick<ModelProfile, "id" | "pinned_on" | "residency_priority">
    & Partial<Pick<ModelProfile, "split" | "devices">>;
  /** Memory the model needs (see requiredBytes). */
  needBytes: number;
  snapshot: FleetSnapshot;
  residents: readonly ResidentFacts[];
  strategy: EvictionStrategy;
  /**
   * Plan as if busy models could go too (after the idle ones): the plan a
   * request waits for, whose busy victims must drain first.
   */
  includeBusy?: boolean;
}

export interface Victim {
  model: string;
  bytes: number;
  /** In use (or held) now: the plan waits until it is idle. */
  busy?: boolean;
}

/** Why no placement exists; lets the caller choose a status (retry later or not). */
export type NoPlacementCode =
  /** The snapshot holds no neuron at all. */
  | "no_neurons"
  /** `pinned_on` names no neuron the gateway knows. */
  | "pinned_unknown"
  /** Every neuron in `pinned_on` is down. */
  | "pinned_down"
  /** Every neuron is down. */
  | "all_down"
  /** Allowed neurons are up but none has a healthy device. */
  | "no_device"
  /** Enough could be freed, but the models that would have to go are in use. */
  | "busy"
  /** Enough is held only by models of higher residency_priority (or pinned ones). */
  | "outranked"
  /** Enough is held only by models still loading. */
  | "loading"
  /** No allowed device could hold it even with every model unloaded. */
  | "too_large";

export type Placement =
  | { kind: "fits"; neuron: string; device: string; split?: string[]; freeBytes: number }
  | {
    kind: "evict";
    neuron: string;
    /** The device; for a split, its devices joined by "+" (the room it waits for). */
    device: string;
    /** A split over these devices of the neuron (which plans the layers itself). */
    split?: string[];
    freeBytes: number;
    /** Unload these, in order, then load; their bytes plus freeBytes cover needBytes. */
    victims: Victim[];
    evictBytes: number;
  }
  | { kind: "none"; code: NoPlacementCode; reason: string };

/**
 * Chooses where a model that is loaded nowhere should load.
 *
 * Only up neurons allowed by `pinned_on` (empty = all) and their healthy
 * devices count. If any device's free memory already fits, the one with the
 * most free memory wins (ties by neuron, then device name): that spreads
 * models, and so compute, across hosts, and matches the neuron's own default
 * device choice. A model never displaces anything while such a device exists.
 *
 * Otherwise each device gets an eviction plan: victims are its `loaded`
 * models of the same or lower residency_priority, not pinned, with no request
 * in flight or queued (gateway or neuron count), taken in strategy order
 * (`lru`: least recently used first; `priority`: lowest priority first, then
 * LRU) until free + freed >= needBytes. The plan evicting the fewest bytes,
 * then the fewest models, wins. Loading models are never victims.
 *
 * A model no single device can hold may be split across a neuron's devices (the neuron plans
 * the layers; see neuron/store/split.ts): when no device fits it alone, a neuron whose healthy
 * devices together have the room takes it, the most free first; failing that, each neuron with
 * two devices or more gets an eviction plan over all of them by the same rules (a split
 * resident counts with its whole memory, freed across its devices), competing with the
 * single-device plans. A split resident counts on each device with its share there.
 */
export function planPlacement(input: PlacementInput): Placement {
  const { profile, needBytes, snapshot, strategy } = input;
  if (!Number.isFinite(needBytes) || needBytes <= 0) {
    throw new RangeError(`needBytes: expected a positive number of bytes, got ${needBytes}`);
  }
  const name = JSON.stringify(profile.id);
  const pins = profile.pinned_on;
  if (snapshot.length === 0) {
    return none("no_neurons", `cannot place ${name}: the gateway knows no neurons`);
  }
  const allowed = pins.length === 0 ? snapshot : snapshot.filter((n) => pins.includes(n.name));
  if (allowed.length === 0) {
    return none(
      "pinned_unknown",
      `cannot place ${name}: pinned_on lists ${list(pins)}, none of which is a known neuron`,
    );
  }
  const up = allowed.filter((n) => n.up);
  if (up.length === 0) {
    const down = list(allowed.map((n) => n.name));
    return pins.length > 0
      ? none("pinned_down", `cannot place ${name}: it is pinned to ${down}, and all are down`)
      : none("all_down", `cannot place ${name}: every neuron is down (${down})`);
  }
  // An RPC device (`remote`) takes shares of splits only, never a whole model.
  const slots: { neuron: NeuronSnapshot; device: Device }[] = [];
  for (const n of up) {
    for (const d of n.devices) {
      if (d.state === "ok" && !d.remote) slots.push({ neuron: n, device: d });
    }
  }
  if (slots.length === 0) {
    return none(
      "no_device",
      `cannot place ${name}: no healthy device on ${list(up.map((n) => n.name))}`,
    );
  }

  // A profile asking for a split (a mode or its devices) takes no single device.
  const splitOnly = profile.split !== undefined || profile.devices !== undefined;
  let best: { neuron: NeuronSnapshot; device: Device } | null = null;
  for (const s of splitOnly ? [] : slots) {
    if (s.device.memory_free_bytes < needBytes) continue;
    if (best === null || s.device.memory_free_bytes > best.device.memory_free_bytes) best = s;
  }
  if (best !== null) {
    return {
      kind: "fits",
      neuron: best.neuron.name,
      device: best.device.name,
      freeBytes: best.device.memory_free_bytes,
    };
  }
  const hosts = up.map((n) => ({ neuron: n, devices: splitDevices(n, profile.devices) }))
    .filter((h) => h.devices.length >= 2);
  if (splitOnly && hosts.length === 0) {
    return none(
      "no_device",
      `cannot place ${name}: it asks for a split${
        profile.devices ? ` over ${list(profile.devices)}` : ""
      }, and no allowed neuron has ${
        profile.devices ? "all of those devices healthy" : "two healthy devices"
      }`,
    );
  }
  let roomiest: { neuron: NeuronSnapshot; devices: Device[]; free: number } | null = null;
  for (const h of hosts) {
    const free = h.devices.reduce((a, d) => a + d.memory_free_bytes, 0);
    if (free < needBytes) continue;
    if (roomiest === null || free > roomiest.free) roomiest = { ...h, free };
  }
  if (roomiest !== null) {
    const split = roomiest.devices.map((d) => d.name);
    return {
      kind: "fits",
      neuron: roomiest.neuron.name,
      device: split.join("+"),
      split,
      freeBytes: roomiest.free,
    };
  }

  const facts = indexFacts(input.residents);
  const analyses = [
    ...(splitOnly ? [] : slots.map((s) => ({ neuron: s.neuron, devices: [s.device] }))),
    ...hosts,
  ].map((s) =>
    analyseDevices(
      s.neuron,
      s.devices,
      profile.residency_priority,
      needBytes,
      strategy,
      facts,
      input.includeBusy === true,
    )
  );
  let plan: DeviceAnalysis | null = null;
  for (const a of analyses) {
    if (a.plan === null) continue;
    if (plan === null || comparePlans(a, plan) < 0) plan = a;
  }
  if (plan !== null && plan.plan !== null) {
    return {
      kind: "evict",
      neuron: plan.neuron,
      device: plan.device,
      ...(plan.split ? { split: plan.split } : {}),
      freeBytes: plan.free,
      victims: plan.plan,
      evictBytes: plan.planBytes,
    };
  }
  return explainNoRoom(name, profile.residency_priority, needBytes, analyses);
}

/** A neuron's healthy devices a split may use: those named (all needed, in order), else all. */
function splitDevices(n: NeuronSnapshot, named: readonly string[] | undefined): Device[] {
  const ok = n.devices.filter((d) => d.state === "ok");
  if (!named) return ok;
  const picked = named.map((name) => ok.find((d) => d.name === name));
  return picked.every((d) => d !== undefined) ? picked as Device[] : [];
}

function none(code: NoPlacementCode, reason: string): Placement {
  return { kind: "none", code, reason };
}

/** One resident model as placement sees it. */
interface Resident {
  model: string;
  bytes: number;
  lastUsed: number | null;
  priority: number;
  busy: boolean;
  /** Idle but not to go yet: keeps its place in the victim order, and the plan waits for it. */
  held: boolean;
  pinned: boolean;
}

interface DeviceAnalysis {
  neuron: string;
  /** The device, or a split's devices joined by "+". */
  device: string;
  /** A split's devices (absent: one device). */
  split?: string[];
  free: number;
  /** The device's budget (or total memory). */
  total: number;
  /** Victims in order, or null when evicting every eligible model is not enough. */
  plan: Victim[] | null;
  planBytes: number;
  evictable: Resident[];
  busy: Resident[];
  outranking: Resident[];
  loading: Resident[];
}

/** Bytes a resident model holds on these devices: its shares there, or all on its one device. */
function bytesOn(m: NeuronModel, devices: readonly string[]): number {
  if (m.split) {
    return m.split.shares.reduce(
      (a, s) => a + (devices.includes(s.device) ? s.memory_bytes : 0),
      0,
    );
  }
  return m.device !== null && devices.includes(m.device) ? m.memory_bytes ?? m.size_bytes : 0;
}

/** Eviction analysis over one device, or over several for a split (their room summed). */
function analyseDevices(
  n: NeuronSnapshot,
  ds: Device[],
  priority: number,
  needBytes: number,
  strategy: EvictionStrategy,
  facts: Map<string, ResidentFacts>,
  includeBusy = false,
): DeviceAnalysis {
  const names = ds.map((d) => d.name);
  const a: DeviceAnalysis = {
    neuron: n.name,
    device: names.join("+"),
    ...(ds.length > 1 ? { split: names } : {}),
    free: ds.reduce((x, d) => x + d.memory_free_bytes, 0),
    total: ds.reduce((x, d) => x + (d.memory_budget_bytes ?? d.memory_total_bytes), 0),
    plan: null,
    planBytes: 0,
    evictable: [],
    busy: [],
    outranking: [],
    loading: [],
  };
  for (const m of n.models) {
    const bytes = bytesOn(m, names);
    if (bytes === 0) continue;
    if (m.state === "loading") a.loading.push({ ...resident(n.name, m, facts), bytes });
    if (m.state !== "loaded") continue;
    // What unloading it frees here: a split resident's shares on these devices.
    const r = { ...resident(n.name, m, facts), bytes };
    if (r.pinned || r.priority > priority) a.outranking.push(r);
    else if (r.busy) a.busy.push(r);
    else a.evictable.push(r);
  }
  const order = strategy === "priority" ? byPriorityThenLru : byLru;
  a.evictable.sort(order);
  const victims: Victim[] = [];
  let freed = 0;
  for (const r of a.evictable) {
    if (a.free + freed >= needBytes) break;
    victims.push({ model: r.model, bytes: r.bytes, ...(r.held ? { busy: true } : {}) });
    freed += r.bytes;
  }
  if (!includeBusy && victims.some((v) => v.busy)) {
    // The strategy's victim is held: wait for it rather than take another one.
    return { ...a, busy: [...a.busy, ...a.evictable], evictable: [] };
  }
  if (includeBusy) {
    for (const r of [...a.busy].sort(order)) {
      if (a.free + freed >= needBytes) break;
      victims.push({ model: r.model, bytes: r.bytes, busy: true });
      freed += r.bytes;
    }
  }
  if (a.free + freed >= needBytes) {
    a.plan = victims;
    a.planBytes = freed;
  }
  return a;
}

function resident(neuron: string, m: NeuronModel, facts: Map<string, ResidentFacts>): Resident {
  const f = facts.get(factKey(neuron, m.id));
  // The gateway's live count plus what others sent; the polled counts only without that split.
  const others = f?.outside ?? m.in_flight + m.queued;
  return {
    model: m.id,
    // A resident model's accounted memory; the file size when the neuron gave none.
    bytes: m.memory_bytes ?? m.size_bytes,
    lastUsed: lastUsedOf(m, f),
    priority: f?.priority ?? 0,
    busy: (f?.inFlight ?? 0) > 0 || others > 0,
    held: f?.held === true,
    pinned: f?.pinned === true,
  };
}

/**
 * The later of the gateway's and the neuron's last use (both epoch ms): a
 * model used directly on the neuron still counts as used. Falls back to the
 * load time; null when nothing is known.
 */
function lastUsedOf(m: NeuronModel, f: ResidentFacts | undefined): number | null {
  const seen = Math.max(f?.lastUsedMs ?? -Infinity, m.last_used ?? -Infinity);
  if (seen !== -Infinity) return seen;
  return m.loaded_at;
}

function byLru(a: Resident, b: Resident): number {
  return (a.lastUsed ?? -Infinity) - (b.lastUsed ?? -Infinity) || compareText(a.model, b.model);
}

function byPriorityThenLru(a: Resident, b: Resident): number {
  return a.priority - b.priority || byLru(a, b);
}

function comparePlans(a: DeviceAnalysis, b: DeviceAnalysis): number {
  return busyCount(a) - busyCount(b) ||
    a.planBytes - b.planBytes ||
    a.plan!.length - b.plan!.length ||
    compareText(a.neuron, b.neuron) ||
    compareText(a.device, b.device);
}

function busyCount(a: DeviceAnalysis): number {
  let n = 0;
  for (const v of a.plan ?? []) if (v.busy) n++;
  return n;
}

/** Names the nearest obstacle across devices, with each device's figures. */
function explainNoRoom(
  name: string,
  priority: number,
  needBytes: number,
  analyses: DeviceAnalysis[],
): Placement {
  const rank: Record<"busy" | "outranked" | "loading" | "too_large", number> = {
    busy: 0,
    outranked: 1,
    loading: 2,
    too_large: 3,
  };
  let code: keyof typeof rank = "too_large";
  for (const a of analyses) {
    let reach = a.free + sum(a.evictable) + sum(a.busy);
    let c: keyof typeof rank = "busy";
    if (reach < needBytes) {
      reach += sum(a.outranking);
      c = "outranked";
    }
    if (reach < needBytes) {
      reach += sum(a.loading);
      c = "loading";
    }
    if (reach < needBytes) c = "too_large";
    if (rank[c] < rank[code]) code = c;
  }
  const headline = {
    busy: "the models that could make room are in use; retry when their requests finish",
    outranked:
      `the memory is held by models of higher residency_priority than ${priority} (or pinned ones)`,
    loading: "the memory is held by models still loading",
    too_large: "no allowed device could hold it even with every model unloaded",
  }[code];
  const details = analyses.map(describeDevice).join("; ");
  return none(
    code,
    `cannot place ${name} (needs ${formatBytes(needBytes)}): ${headline}. ${details}`,
  );
}

function describeDevice(a: DeviceAnalysis): string {
  const parts = [`${a.neuron}/${a.device}: ${formatBytes(a.free)} free`];
  const group = (label: string, rs: Resident[]) => {
    if (rs.length > 0) parts.push(`${formatBytes(sum(rs))} ${label} (${names(rs)})`);
  };
  group("evictable", a.evictable);
  group("in use", a.busy);
  group("held by higher-priority or pinned models", a.outranking);
  group("loading", a.loading);
  parts.push(`budget ${formatBytes(a.total)}`);
  return parts.join(", ");
}

function sum(rs: readonly Resident[]): number {
  let s = 0;
  for (const r of rs) s += r.bytes;
  return s;
}

function names(rs: readonly Resident[]): string {
  return rs.map((r) => r.model).join(", ");
}

/** Bytes in GiB (two decimals) or MiB, for reasons people read. */
export function formatBytes(n: number): string {
  if (n >= GIB) return `${(n / GIB).toFixed(2)} GiB`;
  if (n >= MIB) return `${(n / MIB).toFixed(1)} MiB`;
  return `${n} B`;
}

function list(xs: readonly string[]): string {
  return xs.join(", ");
}

function factKey(neuron: string, model: string): string {
  return `${neuron}\u0000${model}`;
}

function indexFacts(residents: readonly ResidentFacts[]): Map<string, ResidentFacts> {
  const m = new Map<string, ResidentFacts>();
  for (const r of residents) m.set(factKey(r.neuron, r.model), r);
  return m;
}

function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

// ---------------------------------------------------------------------------
// Idle unload and defragmentation

export interface IdleInput {
  snapshot: FleetSnapshot;
  residents: readonly ResidentFacts[];
  /** Epoch ms. */
  now: number;
  /** Unload models idle longer than this, unless their facts say otherwise; 0 = off. */
  idleTtlMs: number;
}

export interface IdleVictim {
  neuron: string;
  model: string;
  device: string | null;
  bytes: number;
  idleMs: number;
}

/**
 * When a resident model's idle unload falls due (epoch ms), or null for never: no TTL (its
 * own `keep_alive`, else `idleTtlMs`; 0 = off), pinned, or its use unknown. A model with
 * requests in flight counts from `now`: its idle time starts when they end.
 */
export function idleExpiry(
  neuron: string,
  m: NeuronModel,
  residents: readonly ResidentFacts[],
  now: number,
  idleTtlMs: number,
): number | null {
  const f = residents.find((r) => r.neuron === neuron && r.model === m.id);
  return expiryOf(resident(neuron, m, indexFacts(f ? [f] : [])), f, now, idleTtlMs);
}

function expiryOf(
  r: Resident,
  f: ResidentFacts | undefined,
  now: number,
  idleTtlMs: number,
): number | null {
  const ttl = f?.idleTtlMs ?? idleTtlMs;
  if (r.pinned || r.lastUsed === null || !(ttl > 0) || ttl === Infinity) return null;
  return (r.busy ? now : r.lastUsed) + ttl;
}

/**
 * Loaded models on up neurons idle longer than their TTL, with nothing in flight or queued,
 * not held and not pinned; the longest idle first. A model whose last use and load time are
 * both unknown is left alone.
 */
export function idleVictims(input: IdleInput): IdleVictim[] {
  const { snapshot, now, idleTtlMs } = input;
  if (!Number.isFinite(idleTtlMs) || idleTtlMs < 0) {
    throw new RangeError(`idleTtlMs: expected milliseconds >= 0, got ${idleTtlMs}`);
  }
  const facts = indexFacts(input.residents);
  const out: IdleVictim[] = [];
  for (const n of snapshot) {
    if (!n.up) continue;
    for (const m of n.models) {
      if (m.state !== "loaded") continue;
      const r = resident(n.name, m, facts);
      if (r.busy || r.held) continue;
      const due = expiryOf(r, facts.get(factKey(n.name, m.id)), now, idleTtlMs);
      if (due === null || due >= now) continue;
      out.push({
        neuron: n.name,
        model: m.id,
        device: m.device,
        bytes: r.bytes,
        idleMs: now - r.lastUsed!,
      });
    }
  }
  return out.sort((a, b) =>
    b.idleMs - a.idleMs || compareText(a.neuron, b.neuron) || compareText(a.model, b.model)
  );
}

/**
 * Neurons whose load/unload cycle count reached `threshold` (0 = off), by
 * name. The caller reloads them when idle and resets their count.
 */
export function defragDue(
  cyclesByNeuron: ReadonlyMap<string, number>,
  threshold: number,
): string[] {
  if (!Number.isInteger(threshold) || threshold < 0) {
    throw new RangeError(`threshold: expected an integer >= 0, got ${threshold}`);
  }
  if (threshold === 0) return [];
  const due: string[] = [];
  for (const [neuron, cycles] of cyclesByNeuron) if (cycles >= threshold) due.push(neuron);
  return due.sort(compareText);
}
