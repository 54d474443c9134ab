import { assertEquals } from "../tests/assert.ts";
import { errorChain } from "./error_chain.ts";

Deno.test("errorChain: a refused connection says so, without fetch's wrappers", async () => {
  const e = await fetch("http://127.0.0.1:39999/").catch((e) => e);
  assertEquals(errorChain(e), "tcp connect error: Connection refused (os error 111)");
});

Deno.test("errorChain: a DNS failure names the lookup", async () => {
  const e = await fetch("http://no-such-host.invalid:8080/").catch((e) => e);
  assertEquals(/^dns error: /.test(errorChain(e)), true, errorChain(e));
});

Deno.test("errorChain: causes join once, repeats left out", () => {
  const inner = new Error("certificate has expired");
  const mid = new Error("TLS handshake failed", { cause: inner });
  assertEquals(
    errorChain(new Error("cannot pull", { cause: mid })),
    "cannot pull: TLS handshake failed: certificate has expired",
  );
  assertEquals(errorChain(new Error("x", { cause: new Error("x") })), "x");
  assertEquals(errorChain(new Error("fetch failed")), "fetch failed");
  assertEquals(errorChain("plain"), "plain");
});
