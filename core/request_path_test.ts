import { assertEquals } from "../tests/assert.ts";
import { requestPath } from "./request_path.ts";

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
