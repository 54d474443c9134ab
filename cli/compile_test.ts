/**
 * cli/compile.ts against the real `deno compile`: the offline runtime-download failure is
 * forced through an unreachable proxy, and a successful build uses a stand-in runtime
 * (DENORT_BIN = this deno, which yields an unrunnable file but the real embedding step).
 */

import { assert, assertEquals, assertMatch, assertStringIncludes } from "../tests/assert.ts";
import { BINARIES, compileBinaries, parseCli, UsageError } from "./compile.ts";

const ROOT = new URL("../", import.meta.url).pathname.replace(/\/$/, "");

function usageError(args: string[]): string {
  try {
    parseCli(args);
  } catch (e) {
    assert(e instanceof UsageError, `not a UsageError: ${e}`);
    return e.message;
  }
  throw new Error(`parseCli(${JSON.stringify(args)}) accepted bad input`);
}

Deno.test("the command line selects binaries and rejects unknown ones by name", () => {
  assertEquals(parseCli([]).binaries.map((b) => b.name), ["cortex", "neuron"]);
  const r = parseCli(["neuron", "--target", "aarch64-unknown-linux-gnu", "--no-check"]);
  assertEquals(r.binaries.map((b) => b.name), ["neuron"]);
  assertEquals([r.target, r.check, r.outDir], ["aarch64-unknown-linux-gnu", false, "dist"]);
  assertMatch(usageError(["gateway"]), /unknown binary "gateway", expected cortex or neuron/);
  assertMatch(usageError(["--target", "x86_64-apple-darwin"]), /^--target: unknown/);
  assertMatch(usageError(["--bogus"]), /bogus/);
});

Deno.test("an unreachable runtime download is explained with the path to put it at", async () => {
  assertEquals(Deno.env.get("DENORT_BIN"), undefined, "unset DENORT_BIN to run this test");
  const dir = await Deno.makeTempDir({ prefix: "cortex-compile-" });
  try {
    await Deno.writeTextFile(`${dir}/probe.ts`, "console.log(1);\n");
    const proxy = "http://127.0.0.1:9"; // the discard port: nothing listens
    const [result] = await compileBinaries(
      [{ name: "probe", entry: "probe.ts", permissions: [], include: [] }],
      {
        root: dir,
        outDir: "out",
        check: false,
        echo: false,
        env: { DENO_DIR: `${dir}/deno_dir`, HTTPS_PROXY: proxy, HTTP_PROXY: proxy, NO_PROXY: "" },
      },
    );
    assertEquals(result.ok, false);
    const explained = result.runtimeDownloadFailure ?? "";
    assertStringIncludes(explained, "cannot reach dl.deno.land");
    const zip = `denort-${Deno.build.target}.zip`;
    assertStringIncludes(explained, `https://dl.deno.land/release/v${Deno.version.deno}/${zip}`);
    assertStringIncludes(explained, `${dir}/deno_dir/dl/release/v${Deno.version.deno}/${zip}`);
    assertStringIncludes(explained, "DENORT_BIN");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("the neuron binary embeds its device worker and only the npm packages it imports", async () => {
  const dir = await Deno.makeTempDir({ prefix: "cortex-compile-" });
  try {
    const neuron = BINARIES.find((b) => b.name === "neuron")!;
    const [result] = await compileBinaries([neuron], {
      root: ROOT,
      outDir: dir,
      check: false, // `deno task check` type-checks; this is about what gets embedded
      echo: false,
      env: { DENORT_BIN: Deno.execPath() },
    });
    // deno compile 2.9.6 would overflow its stack on bintrees' test data without our exclude.
    assert(result.ok, `deno compile failed:\n${result.output}`);
    // deno-lint-ignore no-control-regex
    const listing = result.output.replace(/\x1b\[[0-9;]*m/g, "");
    assertMatch(
      listing,
      /── worker\.ts \(/,
      `neuron/engine/worker.ts is not embedded:\n${listing}`,
    );
    assertMatch(listing, /zod\/4\.\d+\.\d+/);
    // Packages show as name/version (unscoped) or @scope/name (scoped) in the listing.
    for (const unused of [/openai\/\d/, /@anthropic-ai\/sdk/, /@node-llama-cpp\/linux-x64/]) {
      assert(!unused.test(listing), `${unused} is embedded but the neuron never imports it`);
    }
    assert((await Deno.stat(`${dir}/neuron`)).size > 0);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
