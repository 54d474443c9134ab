import { assert, assertEquals, assertMatch, assertStringIncludes } from "../tests/assert.ts";
import { neuronNote, parseLlamaBuildArgs } from "./llama_build.ts";
import { CliError } from "./cli_error.ts";

/** The CliError a parse throws. */
function usageOf(fn: () => unknown): CliError {
  try {
    fn();
  } catch (e) {
    assert(e instanceof CliError, String(e));
    return e;
  }
  throw new Error("expected a CliError");
}

const ENV = { HOME: "/home/op" };

Deno.test("llama-build options: defaults, flags, and usage errors (exit 2) naming the flag", () => {
  const d = parseLlamaBuildArgs([], ENV)!;
  assertEquals([d.cuda, d.rpc, d.peer, d.force, d.check], [false, false, false, false, false]);
  assertEquals(d.cacheRoot, "/home/op/.cache/cortex");
  assertEquals(d.jobs, navigator.hardwareConcurrency);
  const o = parseLlamaBuildArgs(
    ["--cuda", "--arch", "90a", "--rpc", "--peer", "--jobs", "16", "--source", "/x.tgz"],
    ENV,
  )!;
  assertEquals([o.cuda, o.arch, o.rpc, o.peer, o.jobs, o.source], [
    true,
    "90a",
    true,
    true,
    16,
    "/x.tgz",
  ]);
  assertEquals(parseLlamaBuildArgs(["--cache-dir", "/c"], ENV)!.cacheRoot, "/c");
  assertEquals(parseLlamaBuildArgs(["--help"], ENV), null);
  const usage = (args: string[], re: RegExp) => {
    const e = usageOf(() => parseLlamaBuildArgs(args, ENV));
    assertEquals(e.exitCode, 2);
    assertMatch(e.message, re);
  };
  usage(["--jobs", "0"], /^--jobs: expected a whole number of at least 1, got "0"/);
  usage(["--arch", "90a"], /^--arch: only with --cuda/);
  usage(["--gpu"], /Unknown option '--gpu'/);
  assertEquals(parseLlamaBuildArgs(["--rpc-module"], ENV)!.rpcModule, true);
  assertEquals(d.rpcModule, false);
  usage(["--rpc-module", "--cuda"], /^--rpc-module: builds for the npm prebuilt only/);
  usage(["--rpc-module", "--rpc"], /^--rpc-module: builds for the npm prebuilt only/);
  const noHome = usageOf(() => parseLlamaBuildArgs([], {}));
  assertMatch(noHome.message, /no cache folder: set CORTEX_CACHE_DIR/);
});

/** Runs `cli/llama_build.ts` as `deno task llama-build` does, with the given PATH. */
async function runCli(args: string[], path: string) {
  const out = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-read",
      "--allow-write",
      "--allow-env",
      "--allow-run",
      "--allow-ffi",
      "--allow-sys",
      new URL("./llama_build.ts", import.meta.url).pathname,
      ...args,
    ],
    env: { PATH: path, CORTEX_CACHE_DIR: "/nonexistent/cortex-cache", NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

Deno.test("llama-build on a host without the tools says what to install and exits 1", async () => {
  const dir = await Deno.makeTempDir({ prefix: "no-tools-" });
  try {
    // Only tar: no cmake, compiler, ninja/make, git or npm, and no cached source.
    await Deno.symlink(await Deno.realPath("/bin/tar"), `${dir}/tar`);
    const r = await runCli([], dir);
    assertEquals(r.code, 1);
    assertStringIncludes(r.stdout, "checking tools");
    assertStringIncludes(r.stderr, "llama-build: missing what the build needs:");
    for (
      const want of [
        "cmake not found: apt-get install cmake",
        "apt-get install g++",
        "apt-get install ninja-build",
        "apt-get install git",
        "npm not found, and the llama.cpp source is not cached",
      ]
    ) assertStringIncludes(r.stderr, want);
    const cuda = await runCli(["--cuda", "--check"], dir);
    assertEquals(cuda.code, 1);
    assertStringIncludes(cuda.stderr, "nvidia-smi not found; pass --arch");
    const usage = await runCli(["--jobs", "many"], dir);
    assertEquals(usage.code, 2);
    // --check looks at --source too (it said "everything the build needs is here" before).
    const source = await runCli(["--check", "--source", `${dir}/nowhere.tgz`], dir);
    assertEquals(source.code, 1);
    assertStringIncludes(source.stderr, `--source ${dir}/nowhere.tgz: no such file or folder`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("llama-build's last line: a --cache-dir the neuron does not look in says how to point it there", () => {
  const dir = "/c/llama/v0.4.0/cpu-native";
  // The default cache: the neuron finds the build by itself.
  assertMatch(
    neuronNote("/home/op/.cache/cortex", ENV, dir),
    /^The neuron loads this build from now on/,
  );
  assertMatch(
    neuronNote("/c", { ...ENV, CORTEX_CACHE_DIR: "/c" }, dir),
    /^The neuron loads this build/,
  );
  // --cache-dir elsewhere: it said "loads this build from now on", and the neuron did not.
  assertEquals(
    neuronNote("/c", ENV, dir),
    `A neuron does not look in /c by itself: start it with CORTEX_CACHE_DIR=/c, or set ` +
      `library_path = "${dir}" in its neuron.toml.`,
  );
});
