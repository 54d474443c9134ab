/**
 * What the gateway serves: every model loaded on a live neuron, every
 * models.toml profile that some live neuron could load, and — when no
 * models.toml is configured — every GGUF in the live neurons' stores.
 * Names resolve here: ids first, then aliases.
 *
 * A model that is known but cannot be served right now still resolves (it is
 * not in the list): a profile or a recently served model whose neuron is down
 * or restarting (the request gets 503 with Retry-After, not 404), and a
 * profile too large for every device (a 4xx naming the sizes, not a 503
 * clients would retry forever).
 */

import type { ModelProfile } from "../core/config/mod.ts";
import { parseModelSource } from "../core/config/mod.ts";
import { hasQuantTag } from "../core/config/model_source.ts";
import type { NeuronModel } from "../core/neuron/schemas.ts";
import type { Fleet } from "./fleet.ts";
import { requiredBytes } from "./placement.ts";

export interface CatalogueEntry {
  id: string;
  aliases: string[];
  /** The profile it comes from; an implicit one for store files and ad-hoc loads. */
  profile: ModelProfile;
  /** Whether models.toml declares it. */
  declared: boolean;
  /** Neurons holding it loaded. */
  loadedOn: string[];
  /** Neurons whose store has its file (where it could load). */
  storedOn: string[];
  contextLength: number | null;
}

/** Does a neuron store file (by id) satisfy a profile source? */
export function sourceMatches(source: string, storeId: string): boolean {
  const s = parseModelSource(source);
  if (s.kind === "file") return storeId === s.path.replace(/\.gguf$/i, "");
  const repoName = s.repo.slice(s.repo.indexOf("/") + 1);
  if (!storeId.startsWith(`${repoName}/`)) return false;
  const name = storeId.slice(repoName.length + 1);
  if ("file" in s) {
    const base = s.file.slice(s.file.lastIndexOf("/") + 1).replace(/\.gguf$/i, "");
    return name === base;
  }
  return hasQuantTag(name, s.quant);
}

function implicitProfile(id: string, source: string): ModelProfile {
  return {
    id,
    source: `${source}.gguf`,
    aliases: [],
    pinned_on: [],
    residency_priority: 0,
    pinned: false,
    embeddings: false,
    sampling: {},
  };
}

export class Catalogue {
  readonly #fleet: Fleet;
  readonly #profiles: ModelProfile[];
  #entries = new Map<string, CatalogueEntry>();
  #names = new Map<string, string>();
  /** Known, not servable now (see above): resolvable, not listed. */
  #standby = new Map<string, CatalogueEntry>();
  /** Models served outside models.toml → the neurons they were last seen on. */
  #seen = new Map<string, { entry: CatalogueEntry; neurons: Set<string> }>();

  constructor(fleet: Fleet, profiles: ModelProfile[]) {
    this.#fleet = fleet;
    this.#profiles = profiles;
    this.rebuild();
  }

  get profiles(): readonly ModelProfile[] {
    return this.#profiles;
  }

  /** Recomputes from the fleet view (after each poll). */
  rebuild(): void {
    const entries = new Map<string, CatalogueEntry>();
    const standby = new Map<string, CatalogueEntry>();
    const live = this.#fleet.neurons.filter((n) => n.up);
    const declared = new Set(this.#profiles.map((p) => p.id));
    for (const p of this.#profiles) {
      const allowed = live.filter((n) =>
        !p.pinned_on.length || p.pinned_on.includes(n.client.name)
      );
      const loadedOn: string[] = [];
      const storedOn: string[] = [];
      let ctx: number | null = null;
      let need: NeuronModel[] = [];
      for (const n of allowed) {
        for (const m of n.models) {
          if (m.id === p.id && m.state === "loaded") {
            loadedOn.push(n.client.name);
            ctx = m.context ?? ctx;
          }
          if (m.state === "available" && sourceMatches(p.source, m.source)) {
            storedOn.push(n.client.name);
            // The context a load there would give each request (fitted), else the trained one.
            ctx ??= m.context ?? m.context_length;
            need = [...need, m];
          }
        }
      }
      const bytes = requiredBytes(p, need);
      const fits = storedOn.some((name) => {
        const n = live.find((x) => x.client.name === name)!;
        return bytes === null ||
          n.devices.some((d) =>
            d.state === "ok" && (d.memory_budget_bytes ?? d.memory_total_bytes) >= bytes
          );
      });
      if (!loadedOn.length && !fits) {
        // Too large where it is stored, or its neurons down: known, so resolvable.
        const down = this.#fleet.neurons.some((n) =>
          !n.up && (!p.pinned_on.length || p.pinned_on.includes(n.client.name))
        );
        if (storedOn.length || down) {
          standby.set(p.id, {
            id: p.id,
            aliases: p.aliases,
            profile: p,
            declared: true,
            loadedOn: [],
            storedOn,
            contextLength: p.context_length ?? ctx,
          });
        }
        continue;
      }
      entries.set(p.id, {
        id: p.id,
        aliases: p.aliases,
        profile: p,
        declared: true,
        loadedOn,
        storedOn,
        contextLength: p.context_length ?? ctx,
      });
    }
    // Models loaded outside models.toml, and (without models.toml) every stored file.
    for (const n of live) {
      for (const m of n.models) {
        if (declared.has(m.id)) continue;
        const auto = !this.#profiles.length && m.state === "available";
        if (m.state !== "loaded" && !auto) continue;
        const e = entries.get(m.id) ?? {
          id: m.id,
          aliases: [],
          profile: implicitProfile(m.id, m.source),
          declared: false,
          loadedOn: [],
          storedOn: [],
          contextLength: m.context ?? m.context_length,
        };
        if (m.state === "loaded") e.loadedOn.push(n.client.name);
        else e.storedOn.push(n.client.name);
        entries.set(m.id, e);
      }
    }
    // Served a moment ago from a neuron now down or restarting: still known.
    for (const e of entries.values()) {
      if (e.declared) continue;
      this.#seen.set(e.id, { entry: e, neurons: new Set([...e.loadedOn, ...e.storedOn]) });
    }
    for (const [id, seen] of this.#seen) {
      if (entries.has(id)) continue;
      const down = [...seen.neurons].some((name) => this.#fleet.get(name)?.up === false);
      if (down) standby.set(id, { ...seen.entry, loadedOn: [], storedOn: [] });
      else this.#seen.delete(id);
    }
    const names = new Map<string, string>();
    for (const e of entries.values()) names.set(e.id, e.id);
    for (const e of entries.values()) {
      for (const a of e.aliases) if (!names.has(a)) names.set(a, e.id);
    }
    for (const e of standby.values()) {
      for (const n of [e.id, ...e.aliases]) if (!names.has(n)) names.set(n, e.id);
    }
    this.#entries = entries;
    this.#standby = standby;
    this.#names = names;
  }

  /** The entry a requested name means, or null. */
  resolve(name: string): CatalogueEntry | null {
    const id = this.#names.get(name);
    return id === undefined ? null : this.#entries.get(id) ?? this.#standby.get(id) ?? null;
  }

  /** A declared profile by id or alias, even when no live neuron could load it now. */
  declared(name: string): ModelProfile | null {
    return this.#profiles.find((p) => p.id === name || p.aliases.includes(name)) ?? null;
  }

  list(): CatalogueEntry[] {
    return [...this.#entries.values()].sort((a, b) => a.id.localeCompare(b.id));
  }

  /** Every name that may appear as a metrics label. */
  knownModels(): { id: string; aliases: string[] }[] {
    const out = new Map<string, { id: string; aliases: string[] }>();
    for (const p of this.#profiles) out.set(p.id, { id: p.id, aliases: p.aliases });
    for (const e of this.#entries.values()) out.set(e.id, { id: e.id, aliases: e.aliases });
    return [...out.values()];
  }
}
