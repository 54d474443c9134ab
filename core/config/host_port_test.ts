import assert from "node:assert/strict";
import { normalizeHostPort, splitHostPort } from "./host_port.ts";

Deno.test("normalizeHostPort accepts host:port forms and fills in all interfaces", () => {
  assert.equal(normalizeHostPort("127.0.0.1:31313"), "127.0.0.1:31313");
  assert.equal(normalizeHostPort(":31313"), "0.0.0.0:31313");
  assert.equal(normalizeHostPort("localhost:80"), "localhost:80");
  assert.equal(normalizeHostPort("gpu-box-1.lan:13131"), "gpu-box-1.lan:13131");
  assert.equal(normalizeHostPort("[::1]:8080"), "[::1]:8080");
  assert.equal(normalizeHostPort("127.0.0.1:0"), "127.0.0.1:0");
});

Deno.test("splitHostPort gives Deno.serve's hostname and port", () => {
  assert.deepEqual(splitHostPort(":31313"), { hostname: "0.0.0.0", port: 31313 });
  assert.deepEqual(splitHostPort("[::]:1"), { hostname: "::", port: 1 });
});

Deno.test("splitHostPort rejects malformed addresses with the reason", () => {
  assert.throws(() => splitHostPort("127.0.0.1"), /no port/);
  assert.throws(() => splitHostPort("127.0.0.1:99999"), /0 to 65535/);
  assert.throws(() => splitHostPort("127.0.0.1:http"), /not a number/);
  assert.throws(() => splitHostPort("http://127.0.0.1:80"), /without a scheme/);
  assert.throws(() => splitHostPort("::1:80"), /without brackets/);
  assert.throws(() => splitHostPort("bad host:80"), /not a host name/);
  assert.throws(() => splitHostPort("[zz]:80"), /not an IPv6/);
});
