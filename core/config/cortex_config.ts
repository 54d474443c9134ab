/**
 * cortex.toml: the gateway's configuration (listen addresses, timings, the
 * neurons it fronts, eviction policy, API keys, the Responses API store).
 *
 * Environment overrides use the prefix `CORTEX_`, e.g.
 * `CORTEX_GATEWAY__LISTEN=0.0.0.0:31313`, `CORTEX_NEURONS__0__TOKEN=secret`.
 * `CORTEX_MODELS__…` belongs to models.toml and is ignored here.
 */
import { z } from "zod";
import type { Env, EnvSpec } from "./env_overrides.ts";
import {
  duration,
  hostPort,
  httpUrl,
  integer,
  neuronName,
  nonEmptyString,
  pathString,
} from "./fields.ts";
import { normalizeHostPort } from "./host_port.ts";
import { baseDirOf, type ParseOptions, resolveFromFile } from "./resolve_paths.ts";
import {
  type ConfigFileSpec,
  type CrossIssue,
  parseTomlText,
  readConfigText,
  validateDocument,
} from "./validate.ts";

const MiB = 1024 * 1024;

export const GatewaySectionSchema = z.strictObject({
  /** API listen address. */
  listen: hostPort().default("127.0.0.1:31313"),
  /** Prometheus `/metrics` listen address. */
  metrics_listen: hostPort().default("127.0.0.1:31314"),
  /** How often each neuron is polled, in ms. */
  poll_interval: duration({ min: 1 }).default(2_000),
  /** How long a neuron may fail to answer before it is marked down, in ms. */
  down_after: duration({ min: 1 }).default(5_000),
  /** Longest wait for a cold model load, in ms. */
  load_timeout: duration({ min: 1 }).default(300_000),
  /** Longest a proxied request may take, in ms; 0 = no limit. */
  request_timeout: duration().default(0),
  /** A stream from a neuron silent this long is a dead neuron (neurons send keepalives every 2 s), in ms. */
  stream_idle_timeout: duration({ min: 1 }).default(60_000),
  /** Largest accepted request body, in bytes. */
  max_body_bytes: integer({ min: 1 }).default(8 * MiB),
  /** Path of models.toml, resolved against cortex.toml's directory; absent = no profiles. */
  models: pathString().optional(),
  /** PEM certificate chain for HTTPS on `listen` (with `tls_key`); absent = plain HTTP. */
  tls_cert: pathString().optional(),
  /** PEM private key for `tls_cert`. */
  tls_key: pathString().optional(),
});

export const EvictionSectionSchema = z.strictObject({
  /** `lru`: least recently used first; `priority`: lowest residency_priority first, then LRU. */
  strategy: z.enum(["lru", "priority"]).default("lru"),
  /** Reload an idle neuron's models after this many load/unload cycles to defragment VRAM; 0 = off. */
  defrag_after_cycles: integer({ min: 0 }).default(0),
  /** Unload a model idle this long, in ms; 0 = off. */
  idle_ttl: duration().default(0),
});

/** The swap queue: requests for a model whose room is held by busy models wait (README "Swapping"). */
export const QueueSectionSchema = z.strictObject({
  /** Longest a request waits for its model's room, in ms; then 503 with Retry-After. 0 = no queue: 503 at once. */
  timeout: duration().default(120_000),
  /** A resident model another one waits for keeps taking new requests this long (collation), in ms. */
  max_wait: duration().default(10_000),
  /** … and at most this many new requests. */
  max_batch: integer({ min: 0 }).default(16),
  /** A model the gateway loaded is not unloaded to make room for this long, in ms. */
  min_residency: duration().default(0),
});

export const NeuronEntrySchema = z.strictObject({
  name: neuronName(),
  /** Base URL of the neuron's HTTP API, without a trailing slash. */
  endpoint: httpUrl(),
  /** Shared secret sent as a bearer token to this neuron. */
  token: nonEmptyString("a non-empty token").optional(),
  /** PEM file of a CA to trust for an `https` endpoint (beside the system's roots). */
  ca_cert: pathString().optional(),
});

export const AuthSectionSchema = z.strictObject({
  /** Accepted API keys; empty = no authentication. */
  api_keys: z.array(nonEmptyString("a non-empty API key"), {
    error: "an array of API key strings",
  }).default([]),
  /** Operator keys: also load, unload and pull; when set, API keys no longer may. */
  admin_keys: z.array(nonEmptyString("a non-empty operator key"), {
    error: "an array of operator key strings",
  }).default([]),
});

export const ResponsesSectionSchema = z.strictObject({
  /** Most stored responses kept for `previous_response_id`. */
  max_entries: integer({ min: 1 }).default(1000),
  /** Stored responses older than this are dropped, in ms. */
  max_age: duration({ min: 1 }).default(3_600_000),
});

export const EmbeddedSectionSchema = z.strictObject({
  /** neuron.toml for the embedded neuron (used when no [[neurons]] are configured). */
  neuron_config: pathString().optional(),
});

export const CortexConfigSchema = z.strictObject({
  gateway: GatewaySectionSchema.prefault({}),
  eviction: EvictionSectionSchema.prefault({}),
  queue: QueueSectionSchema.prefault({}),
  /** Zero neurons is valid: the CLI then runs an embedded neuron. */
  neurons: z.array(NeuronEntrySchema, { error: "an array of tables ([[neurons]])" }).default([]),
  auth: AuthSectionSchema.prefault({}),
  responses: ResponsesSectionSchema.prefault({}),
  embedded: EmbeddedSectionSchema.prefault({}),
});

/** The parsed cortex.toml; durations are milliseconds, listen addresses normalised. */
export type CortexConfig = z.output<typeof CortexConfigSchema>;
export type NeuronEntry = CortexConfig["neurons"][number];

export const CORTEX_ENV: EnvSpec = {
  prefix: "CORTEX_",
  rootKeys: Object.keys(CortexConfigSchema.shape),
  // models.toml shares the prefix (CORTEX_MODELS__0__VRAM_MB).
  ignoreRoots: ["models"],
};

function isTable(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === "object" && !Array.isArray(v);
}

/** Names and endpoints must be unique; the two listeners must differ. */
function crossCheck(doc: Record<string, unknown>): CrossIssue[] {
  const issues: CrossIssue[] = [];
  const neurons = Array.isArray(doc.neurons) ? doc.neurons : [];
  const names = new Map<string, number>();
  const endpoints = new Map<string, number>();
  neurons.forEach((n, i) => {
    if (!isTable(n)) return;
    if (typeof n.name === "string") {
      const first = names.get(n.name);
      if (first === undefined) names.set(n.name, i);
      else {
        issues.push({
          path: ["neurons", i, "name"],
          expected: "a name not used by another neuron",
          found: `"${n.name}", already the name of neurons[${first}]`,
        });
      }
    }
    if (typeof n.endpoint === "string") {
      let key: string;
      try {
        key = new URL(n.endpoint).href.replace(/\/+$/, "");
      } catch {
        return; // the schema reports it
      }
      const first = endpoints.get(key);
      if (first === undefined) endpoints.set(key, i);
      else {
        issues.push({
          path: ["neurons", i, "endpoint"],
          expected: "an endpoint not used by another neuron",
          found: `"${n.endpoint}", already the endpoint of neurons[${first}]`,
        });
      }
    }
  });
  const gw = isTable(doc.gateway) ? doc.gateway : {};
  for (const [have, lack] of [["tls_cert", "tls_key"], ["tls_key", "tls_cert"]]) {
    if (gw[have] !== undefined && gw[lack] === undefined) {
      issues.push({
        path: ["gateway", lack],
        expected: `a PEM file path (HTTPS needs both tls_cert and tls_key)`,
        found: `nothing, though gateway.${have} is set`,
      });
    }
  }
  const listen = typeof gw.listen === "string" ? gw.listen : "127.0.0.1:31313";
  const metrics = typeof gw.metrics_listen === "string" ? gw.metrics_listen : "127.0.0.1:31314";
  try {
    if (normalizeHostPort(listen) === normalizeHostPort(metrics) && !listen.endsWith(":0")) {
      issues.push({
        path: ["gateway", "metrics_listen"],
        expected: "an address different from gateway.listen",
        found: `"${metrics}", the same as gateway.listen`,
      });
    }
  } catch {
    // an invalid address is reported by the schema
  }
  return issues;
}

const isSecret = (path: readonly PropertyKey[]) =>
  path[path.length - 1] === "token" || path.includes("api_keys") || path.includes("admin_keys");

export const CORTEX_FILE: ConfigFileSpec<typeof CortexConfigSchema> = {
  schema: CortexConfigSchema,
  env: CORTEX_ENV,
  crossCheck,
  isSecret,
};

/** Parses cortex.toml text (pure: no file access); throws ConfigError. */
export function parseCortexConfig(
  text: string,
  fileLabel = "cortex.toml",
  env: Env = {},
  options: ParseOptions = {},
): CortexConfig {
  const doc = parseTomlText(text, fileLabel);
  const { config, overrides } = validateDocument(CORTEX_FILE, doc, { file: fileLabel, text, env });
  const baseDir = baseDirOf(fileLabel, options);
  const envPaths = overrides.map((o) => o.path);
  const resolve = (p: string | undefined, key: (string | number)[]) =>
    p === undefined ? undefined : resolveFromFile(p, key, baseDir, envPaths);
  const models = resolve(config.gateway.models, ["gateway", "models"]);
  const tls = {
    tls_cert: resolve(config.gateway.tls_cert, ["gateway", "tls_cert"]),
    tls_key: resolve(config.gateway.tls_key, ["gateway", "tls_key"]),
  };
  const neuronConfig = config.embedded.neuron_config === undefined ? undefined : resolveFromFile(
    config.embedded.neuron_config,
    ["embedded", "neuron_config"],
    baseDir,
    envPaths,
  );
  return {
    ...config,
    gateway: {
      ...config.gateway,
      ...(models === undefined ? {} : { models }),
      ...(tls.tls_cert === undefined ? {} : { tls_cert: tls.tls_cert, tls_key: tls.tls_key }),
    },
    neurons: config.neurons.map((n, i) =>
      n.ca_cert === undefined ? n : { ...n, ca_cert: resolve(n.ca_cert, ["neurons", i, "ca_cert"]) }
    ),
    embedded: neuronConfig === undefined ? {} : { neuron_config: neuronConfig },
  };
}

/** Label used in errors when there is no file (defaults plus environment). */
export const CORTEX_DEFAULTS_LABEL = "cortex.toml (defaults)";

/**
 * Loads cortex.toml from `path`, or the defaults when `path` is undefined;
 * `env` (e.g. `Deno.env.toObject()`) overrides either. Throws ConfigError.
 */
export async function loadCortexConfig(
  path: string | undefined,
  env: Env = {},
): Promise<CortexConfig> {
  if (path === undefined) {
    return parseCortexConfig("", CORTEX_DEFAULTS_LABEL, env, { baseDir: null });
  }
  return parseCortexConfig(await readConfigText(path), path, env);
}
