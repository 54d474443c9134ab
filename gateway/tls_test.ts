import { ConfigError } from "../core/config/mod.ts";
import { assertEquals, assertMatch, assertRejects } from "../tests/assert.ts";
import { readTlsFiles } from "./tls.ts";

const TLS = new URL("../tests/fixtures/tls/", import.meta.url).pathname;

Deno.test("readTlsFiles: none configured is plain HTTP; both are read", async () => {
  assertEquals(await readTlsFiles({}, "cortex.toml"), null);
  const files = await readTlsFiles(
    { tls_cert: `${TLS}cert.pem`, tls_key: `${TLS}key.pem` },
    "cortex.toml",
  );
  assertMatch(files!.cert, /BEGIN CERTIFICATE/);
  assertMatch(files!.key, /PRIVATE KEY/);
});

Deno.test("readTlsFiles: a missing or swapped file is a ConfigError naming file and key", async () => {
  const missing = await assertRejects(
    () => readTlsFiles({ tls_cert: "/nonexistent.pem", tls_key: `${TLS}key.pem` }, "c.toml"),
    (e) => e instanceof ConfigError,
  ) as ConfigError;
  assertEquals(missing.keyPath, "gateway.tls_cert");
  assertMatch(missing.message, /^c\.toml: gateway\.tls_cert: expected a readable PEM file/);
  const swapped = await assertRejects(
    () => readTlsFiles({ tls_cert: `${TLS}key.pem`, tls_key: `${TLS}cert.pem` }, "c.toml"),
    (e) => e instanceof ConfigError,
  ) as ConfigError;
  assertMatch(swapped.message, /gateway\.tls_cert: .*which holds no CERTIFICATE block/);
});
