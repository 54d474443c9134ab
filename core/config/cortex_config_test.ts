import assert from "node:assert/strict";
import { ConfigError, formatConfigError } from "./config_error.ts";
import { loadCortexConfig, parseCortexConfig } from "./cortex_config.ts";

function configError(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (e) {
    if (e instanceof ConfigError) return e;
    throw e;
  }
  assert.fail("expected a ConfigError");
}

Deno.test("cortex defaults: an empty file is a complete config", () => {
  const c = parseCortexConfig("");
  assert.deepEqual(c, {
    gateway: {
      listen: "127.0.0.1:31313",
      metrics_listen: "127.0.0.1:31314",
      poll_interval: 2_000,
      down_after: 5_000,
      load_timeout: 300_000,
      request_timeout: 0,
      stream_idle_timeout: 60_000,
      max_body_bytes: 8 * 1024 * 1024,
    },
    eviction: { strategy: "lru", defrag_after_cycles: 0, idle_ttl: 0 },
    queue: { timeout: 120_000, max_wait: 10_000, max_batch: 16, min_residency: 0 },
    neurons: [],
    auth: { api_keys: [], admin_keys: [] },
    responses: { max_entries: 1000, max_age: 3_600_000 },
    embedded: {},
  });
});

Deno.test("cortex: values are normalised (durations to ms, :port, URL slash)", () => {
  const c = parseCortexConfig(`
[gateway]
listen = ":8080"
poll_interval = "250ms"
load_timeout = 90
request_timeout = "1h30m"
[eviction]
strategy = "priority"
idle_ttl = "10m"
[[neurons]]
name = "gpu-1"
endpoint = "http://10.0.0.5:13131/"
token = "t"
`);
  assert.equal(c.gateway.listen, "0.0.0.0:8080");
  assert.equal(c.gateway.poll_interval, 250);
  assert.equal(c.gateway.load_timeout, 90_000);
  assert.equal(c.gateway.request_timeout, 5_400_000);
  assert.equal(c.eviction.strategy, "priority");
  assert.equal(c.eviction.idle_ttl, 600_000);
  assert.deepEqual(c.neurons, [{ name: "gpu-1", endpoint: "http://10.0.0.5:13131", token: "t" }]);
});

Deno.test("cortex: wrong type names file, line, key, expectation and value", () => {
  const e = configError(() =>
    parseCortexConfig(`[gateway]\nlisten = "127.0.0.1:1"\nmax_body_bytes = "8MiB"\n`)
  );
  assert.equal(
    e.message,
    'cortex.toml:3: gateway.max_body_bytes: expected an integer >= 1, found "8MiB"',
  );
  assert.equal(e.file, "cortex.toml");
  assert.equal(e.line, 3);
  assert.equal(e.keyPath, "gateway.max_body_bytes");
  assert.equal(e.expected, "an integer >= 1");
  assert.equal(e.found, '"8MiB"');
});

Deno.test("cortex: unknown eviction strategy lists the choices", () => {
  const text = ["[gateway]", 'listen = ":1"', "", "[eviction]", 'strategy = "fifo"'].join("\n");
  const e = configError(() => parseCortexConfig(text));
  assert.equal(
    e.message,
    'cortex.toml:5: eviction.strategy: expected one of "lru", "priority", found "fifo"',
  );
});

Deno.test("cortex: a neuron without an endpoint points at its table", () => {
  const e = configError(() =>
    parseCortexConfig(`[[neurons]]
name = "a"
endpoint = "http://a:1"

[[neurons]]
name = "b"
`)
  );
  assert.equal(e.issues.length, 1);
  assert.equal(
    e.message,
    'cortex.toml:5: neurons[1].endpoint: expected an http(s) URL like "http://10.0.0.5:13131", found nothing (the key is missing)',
  );
});

Deno.test("cortex: bad endpoints say what is wrong with them", () => {
  const e = configError(() =>
    parseCortexConfig(`[[neurons]]\nname = "a"\nendpoint = "ftp://a:1"\n`)
  );
  assert.match(e.message, /^cortex\.toml:3: neurons\[0\]\.endpoint: expected an http\(s\) URL/);
  assert.match(e.message, /found "ftp:\/\/a:1" \(scheme "ftp"\)$/);
});

Deno.test("cortex: duplicate neuron names and endpoints are reported at the repeat", () => {
  const e = configError(() =>
    parseCortexConfig(`[[neurons]]
name = "gpu"
endpoint = "http://a:1"
[[neurons]]
name = "gpu"
endpoint = "http://a:1/"
`)
  );
  assert.deepEqual(e.issues.map((i) => i.message), [
    'cortex.toml:5: neurons[1].name: expected a name not used by another neuron, found "gpu", already the name of neurons[0]',
    'cortex.toml:6: neurons[1].endpoint: expected an endpoint not used by another neuron, found "http://a:1/", already the endpoint of neurons[0]',
  ]);
});

Deno.test("cortex: bad TOML syntax carries smol-toml's line and column", () => {
  const e = configError(() => parseCortexConfig(`[gateway]\nlisten = "a:1"\npoll_interval = \n`));
  assert.equal(e.line, 3);
  assert.equal(e.issues[0].column, 17);
  assert.equal(e.message, "cortex.toml:3:17: invalid TOML: invalid value");
  // The CLI rendering shows the offending source line.
  assert.match(formatConfigError(e), /3: {2}poll_interval = /);
});

Deno.test("cortex: unknown keys are errors with a did-you-mean", () => {
  const e = configError(() =>
    parseCortexConfig(`[gateway]\nlisten = ":1"\npoll_intervall = "1s"\n`)
  );
  assert.equal(e.line, 3);
  assert.equal(e.keyPath, "gateway.poll_intervall");
  assert.match(
    e.message,
    /^cortex\.toml:3: gateway\.poll_intervall: expected a known key of gateway \(listen, /,
  );
  assert.match(e.message, /found unknown key "poll_intervall"; did you mean "poll_interval"\?$/);

  const top = configError(() => parseCortexConfig(`[evicton]\nstrategy = "lru"\n`));
  assert.match(top.message, /^cortex\.toml:1: evicton: expected a known top-level key \(gateway, /);
  assert.match(top.message, /did you mean "eviction"\?$/);
});

Deno.test("cortex: bad durations explain the accepted forms", () => {
  const e = configError(() => parseCortexConfig(`[gateway]\ndown_after = "5 seconds"\n`));
  assert.equal(
    e.message,
    'cortex.toml:2: gateway.down_after: expected a duration like "250ms", "30s", "5m", "1h30m" or a number of seconds, at least 1ms, found "5 seconds" (an unrecognised duration)',
  );
  const zero = configError(() => parseCortexConfig(`[gateway]\npoll_interval = 0\n`));
  assert.match(
    zero.message,
    /^cortex\.toml:2: gateway\.poll_interval: .*at least 1ms, found 0 \(0ms\)$/,
  );
});

Deno.test("cortex: every problem is reported, in line order", () => {
  const e = configError(() =>
    parseCortexConfig(`[eviction]
strategy = "fifo"
defrag_after_cycles = -1
[gateway]
listen = "nope"
[auth]
api_keys = ["ok", ""]
`)
  );
  assert.deepEqual(e.issues.map((i) => [i.line, i.keyPath]), [
    [2, "eviction.strategy"],
    [3, "eviction.defrag_after_cycles"],
    [5, "gateway.listen"],
    [7, "auth.api_keys[1]"],
  ]);
  assert.match(formatConfigError(e), /^4 config errors in cortex\.toml:\n {2}- cortex\.toml:2: /);
});

Deno.test("cortex: secrets are never echoed in errors", () => {
  const e = configError(() =>
    parseCortexConfig(`[[neurons]]\nname = "a"\nendpoint = "http://a:1"\ntoken = 123456789\n`)
  );
  assert.equal(
    e.message,
    "cortex.toml:4: neurons[0].token: expected a non-empty token, found a number (hidden)",
  );
});

Deno.test("cortex: listen and metrics_listen must differ", () => {
  const e = configError(() =>
    parseCortexConfig(`[gateway]\nlisten = ":9000"\nmetrics_listen = "0.0.0.0:9000"\n`)
  );
  assert.equal(e.keyPath, "gateway.metrics_listen");
  assert.equal(e.line, 3);
});

Deno.test("cortex: paths resolve against the file's directory, env paths against the cwd", () => {
  const text =
    `[gateway]\nmodels = "models.toml"\n[embedded]\nneuron_config = "/abs/neuron.toml"\n`;
  const c = parseCortexConfig(text, "/etc/cortex/cortex.toml");
  assert.equal(c.gateway.models, "/etc/cortex/models.toml");
  assert.equal(c.embedded.neuron_config, "/abs/neuron.toml");
  const fromEnv = parseCortexConfig(text, "/etc/cortex/cortex.toml", {
    CORTEX_GATEWAY__MODELS: "conf/models.toml",
  });
  assert.equal(fromEnv.gateway.models, "conf/models.toml");
  assert.equal(
    parseCortexConfig(text, "x.toml", {}, { baseDir: null }).gateway.models,
    "models.toml",
  );
});

Deno.test("cortex env: overrides set, index and parse values", () => {
  const c = parseCortexConfig(
    `[[neurons]]\nname = "a"\nendpoint = "http://a:1"\n`,
    "cortex.toml",
    {
      CORTEX_GATEWAY__LISTEN: "0.0.0.0:31313",
      CORTEX_GATEWAY__METRICS_LISTEN: ":9100",
      CORTEX_GATEWAY__POLL_INTERVAL: "5",
      CORTEX_EVICTION__STRATEGY: "priority",
      CORTEX_NEURONS__0__TOKEN: "12345", // reads as a number, but the key wants text
      CORTEX_NEURONS__1__NAME: "b",
      CORTEX_NEURONS__1__ENDPOINT: "https://b:2",
      CORTEX_AUTH__API_KEYS: '["k1", "k2"]',
      CORTEX_LOG: "debug", // not a config key: left to the logger
      CORTEX_MODELS__0__ID: "x", // belongs to models.toml
      OTHER: "ignored",
    },
  );
  assert.equal(c.gateway.listen, "0.0.0.0:31313");
  assert.equal(c.gateway.metrics_listen, "0.0.0.0:9100");
  assert.equal(c.gateway.poll_interval, 5_000);
  assert.equal(c.eviction.strategy, "priority");
  assert.deepEqual(c.neurons, [
    { name: "a", endpoint: "http://a:1", token: "12345" },
    { name: "b", endpoint: "https://b:2" },
  ]);
  assert.deepEqual(c.auth.api_keys, ["k1", "k2"]);
});

Deno.test("cortex env: a bad value names the variable", () => {
  const e = configError(() =>
    parseCortexConfig(`[eviction]\nstrategy = "lru"\n`, "cortex.toml", {
      CORTEX_EVICTION__STRATEGY: "fifo",
    })
  );
  assert.equal(e.line, undefined);
  assert.equal(
    e.message,
    'cortex.toml: eviction.strategy (set by CORTEX_EVICTION__STRATEGY): expected one of "lru", "priority", found "fifo"',
  );
  assert.equal(e.issues[0].envVar, "CORTEX_EVICTION__STRATEGY");
});

Deno.test("cortex env: an entry created from the environment owns its missing keys", () => {
  const e = configError(() =>
    parseCortexConfig("", "cortex.toml", { CORTEX_NEURONS__0__NAME: "a" })
  );
  assert.equal(
    e.message,
    'cortex.toml: neurons[0].endpoint (set by CORTEX_NEURONS__0__NAME): expected an http(s) URL like "http://10.0.0.5:13131", found nothing (the key is missing)',
  );
});

Deno.test("cortex env: unknown paths and index gaps are errors naming the variable", () => {
  const e = configError(() =>
    parseCortexConfig("", "cortex.toml", {
      CORTEX_GATEWAY__LISTN: ":1",
      CORTEX_NEURONS__3__NAME: "a",
    })
  );
  const messages = e.issues.map((i) => i.message);
  assert.ok(
    messages.includes(
      "cortex.toml: neurons (set by CORTEX_NEURONS__3__NAME): expected an index from 0 to 0 (the array has 0 items), found index 3",
    ),
    messages.join("\n"),
  );
  assert.ok(
    messages.some((m) =>
      m.startsWith(
        "cortex.toml: gateway.listn (set by CORTEX_GATEWAY__LISTN): expected a known key",
      ) &&
      m.endsWith('did you mean "listen"?')
    ),
    messages.join("\n"),
  );
});

Deno.test("loadCortexConfig: defaults without a path, env still applies", async () => {
  const c = await loadCortexConfig(undefined, { CORTEX_GATEWAY__LISTEN: ":1" });
  assert.equal(c.gateway.listen, "0.0.0.0:1");
  assert.equal(c.eviction.strategy, "lru");
  await assert.rejects(
    () => loadCortexConfig(undefined, { CORTEX_EVICTION__STRATEGY: "x" }),
    (e: unknown) =>
      e instanceof ConfigError &&
      e.message.startsWith(
        "cortex.toml (defaults): eviction.strategy (set by CORTEX_EVICTION__STRATEGY)",
      ),
  );
});

Deno.test("loadCortexConfig: reads the file and names a missing one", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/cortex.toml`;
    await Deno.writeTextFile(path, `[gateway]\nmodels = "m.toml"\n[eviction]\nstrategy = 3\n`);
    await assert.rejects(() => loadCortexConfig(path), (e: unknown) => {
      assert.ok(e instanceof ConfigError);
      assert.equal(
        e.message,
        `${path}:4: eviction.strategy: expected one of "lru", "priority", found 3`,
      );
      return true;
    });
    await Deno.writeTextFile(path, `[gateway]\nmodels = "m.toml"\n`);
    assert.equal((await loadCortexConfig(path)).gateway.models, `${dir}/m.toml`);
    await assert.rejects(() => loadCortexConfig(`${dir}/missing.toml`), (e: unknown) => {
      assert.ok(e instanceof ConfigError);
      assert.equal(e.message, `${dir}/missing.toml: cannot read config file: no such file`);
      assert.equal(e.file, `${dir}/missing.toml`);
      return true;
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("cortex: TLS files resolve next to the file; one without the other is refused", () => {
  const c = parseCortexConfig(
    `[gateway]\ntls_cert = "tls/cert.pem"\ntls_key = "/abs/key.pem"\n` +
      `[[neurons]]\nname = "a"\nendpoint = "https://a:1"\nca_cert = "ca.pem"\n`,
    "/etc/cortex/cortex.toml",
  );
  assert.equal(c.gateway.tls_cert, "/etc/cortex/tls/cert.pem");
  assert.equal(c.gateway.tls_key, "/abs/key.pem");
  assert.equal(c.neurons[0].ca_cert, "/etc/cortex/ca.pem");
  assert.throws(
    () => parseCortexConfig(`[gateway]\ntls_cert = "c.pem"\n`),
    (e: Error) =>
      e instanceof ConfigError && /gateway\.tls_key: expected a PEM file path/.test(e.message),
  );
});

Deno.test("cortex [queue]: durations and a count; 0 turns the queue off", () => {
  const c = parseCortexConfig(
    `[queue]\ntimeout = 0\nmax_wait = "2s"\nmax_batch = 4\nmin_residency = "1s"\n`,
  );
  assert.deepEqual(c.queue, { timeout: 0, max_wait: 2000, max_batch: 4, min_residency: 1000 });
  assert.throws(() => parseCortexConfig(`[queue]\nmax_batch = -1\n`), /queue\.max_batch/);
});
