import { assert, assertEquals, assertMatch } from "../../assert.ts";
import { findExecutable, nginxConfig } from "./processes.ts";

Deno.test("findExecutable finds sh and not a made-up tool", () => {
  assert(findExecutable("sh")?.endsWith("/sh"));
  assertEquals(findExecutable("no-such-tool-cortex-bench"), null);
});

Deno.test("nginxConfig proxies to the upstream with keep-alive and no buffering", () => {
  const conf = nginxConfig("/tmp/n", 8080, "http://127.0.0.1:9000", 1);
  assertMatch(conf, /server 127\.0\.0\.1:9000;\s+keepalive \d+;/);
  assertMatch(conf, /listen 127\.0\.0\.1:8080;/);
  assertMatch(conf, /proxy_http_version 1\.1;/);
  assertMatch(conf, /proxy_set_header Connection "";/);
  assertMatch(conf, /proxy_buffering off;/);
  assertMatch(conf, /master_process off;\nworker_processes 1;/);
  assertMatch(nginxConfig("/tmp/n", 1, "http://h:2", 4), /master_process on;\nworker_processes 4;/);
});
