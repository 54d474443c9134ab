/**
 * The CLI says what it is and why it failed: `--version` on both binaries, and an
 * unreachable gateway named with the cause (connection refused, DNS), never "fetch failed".
 */

import { assertEquals, assertMatch } from "../assert.ts";
import { runCortex } from "./cli_process.ts";

const ROOT = new URL("../../", import.meta.url).pathname;

Deno.test("--version on cortex and neuron prints the version and exits 0", async () => {
  const cortex = await runCortex(["--version"]);
  assertEquals(cortex.code, 0);
  assertMatch(cortex.stdout, /^cortex \d+\.\d+\.\d+ \(deno \d+\.\d+\.\d+, llama\.cpp [\d.]+\)\n$/);
  const neuron = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", `${ROOT}cli/neuron.ts`, "--version"],
    stdout: "piped",
    stderr: "piped",
  }).output();
  assertEquals(neuron.code, 0);
  assertMatch(new TextDecoder().decode(neuron.stdout), /^neuron \d+\.\d+\.\d+ \(deno /);
});

Deno.test("an unreachable gateway: exit 1 and the cause, refused or unknown host", async () => {
  // A port that was just free: nothing listens there.
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  const refused = await runCortex(["status", "--url", `http://127.0.0.1:${port}`]);
  assertEquals(refused.code, 1);
  assertMatch(
    refused.stderr,
    new RegExp(`^cortex: cannot reach http://127\\.0\\.0\\.1:${port}: .*Connection refused`),
  );
  assertEquals(/fetch failed|stack| {4}at /.test(refused.stderr), false, refused.stderr);
  const dns = await runCortex(["models", "--url", "http://no-such-host.invalid:31313"]);
  assertEquals(dns.code, 1);
  assertMatch(dns.stderr, /cannot reach http:\/\/no-such-host\.invalid:31313: dns error: /);
});
