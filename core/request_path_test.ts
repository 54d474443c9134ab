import { assert, assertEquals, assertThrows } from "../tests/assert.ts";
import { HttpError } from "./errors.ts";
import { requestPath, servedPath } from "./request_path.ts";

Deno.test("requestPath: plain paths are cut out of the URL, query and fragment dropped", () => {
  assertEquals(requestPath("http://127.0.0.1:31313/v1/chat/completions"), "/v1/chat/completions");
  assertEquals(requestPath("http://h:1/v1/messages?beta=true"), "/v1/messages");
  assertEquals(requestPath("http://h/v1/models/qwen3-0_6b#x"), "/v1/models/qwen3-0_6b");
  assertEquals(requestPath("http://[::1]:8080/health"), "/health");
  assertEquals(requestPath("http://h:1"), "/");
  assertEquals(requestPath("http://h:1?x=1"), "/");
  assertEquals(requestPath("http://h:1?x=/y"), "/");
});

Deno.test("requestPath: whatever a URL parser would rewrite reads as URL reads it", () => {
  for (
    const url of [
      "http://h:1/v1/models/../chat/completions",
      "http://h:1/v1/./models",
      "http://h:1/v1/models/a%2Fb",
      "http://h:1/v1/models/qwen3.5:7b",
      "http://h:1/v1\\models",
      "http://h:1/v1/models/ü",
      "http://h:1/%2e%2e/etc",
    ]
  ) {
    assertEquals(requestPath(url), new URL(url).pathname, url);
  }
});

Deno.test("servedPath: a Host header that would move the path's start is a 400", () => {
  const req = (host: string, path = "/completions") =>
    new Request(`http://${host}${path}`, { headers: { host } });
  assertEquals(servedPath(req("127.0.0.1:31313")), "/completions");
  assertEquals(servedPath(req("[::1]:8080")), "/completions");
  assertEquals(servedPath(new Request("http://h/v1/models")), "/v1/models");
  for (const host of ["x/v1/chat", "127.0.0.1:1/cortex", "x?", "x#", "user@x", "a\\b"]) {
    const e = assertThrows(() => servedPath(req(host, "/")));
    assert(e instanceof HttpError, host);
    assertEquals([e.status, e.code], [400, "invalid_host"], host);
  }
});
