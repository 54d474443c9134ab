import { assert, assertEquals, assertMatch, assertThrows } from "../../tests/assert.ts";
import type { LibraryManifest } from "../../core/neuron/library_manifest.ts";
import { findLocalBuilds } from "./local_builds.ts";
import { prebuiltLibraryDirs, resolveLibrary, SUPPORTED_VERSIONS } from "./library.ts";

const PLAIN = ["libggml-base.so", "libggml.so", "libllama.so"];
const NPM_NAMES = ["libggml-base.so", "libggml.v0.4.0.so", "libllama.v0.4.0.so"];

/** Writes a build folder as `cortex llama-build` leaves it (files, then the manifest). */
async function writeBuild(
  releaseDir: string,
  variant: string,
  opts: {
    names?: string[];
    backend?: "cpu" | "cuda";
    builtAt?: string;
    cpuFlags?: string[];
    manifest?: boolean;
  } = {},
): Promise<string> {
  const dir = `${releaseDir}/${variant}`;
  await Deno.mkdir(dir, { recursive: true });
  const files: Record<string, number> = {};
  for (const n of opts.names ?? PLAIN) {
    await Deno.writeTextFile(`${dir}/${n}`, `fake ${n}`);
    files[n] = `fake ${n}`.length;
  }
  const m: LibraryManifest = {
    schema: 1,
    llama_cpp: "0.4.0",
    variant,
    backend: opts.backend ?? "cpu",
    cuda: opts.backend === "cuda" ? { version: "12.8", arch: "89" } : null,
    rpc: false,
    source: { from: "npm:node-llama-cpp@3.21.1", commit: "80fb11ac" },
    cmake_flags: [],
    cpu_flags: opts.cpuFlags ?? ["avx2"],
    built_at: opts.builtAt ?? "2026-12-07T07:00:00.000Z",
    files,
    programs: [],
    verified: {
      at: "2026-12-07T07:00:01.000Z",
      version: "0.4.0",
      backends_layout: "linked",
      devices: ["CPU"],
      system_info: "CPU : AVX2 = 1",
    },
  };
  if (opts.manifest ?? true) {
    await Deno.writeTextFile(`${dir}/manifest.json`, JSON.stringify(m));
  }
  return dir;
}

async function withCache(
  fn: (root: string, release: string) => Promise<void> | void,
): Promise<void> {
  const root = await Deno.makeTempDir({ prefix: "cortex-cache-" });
  try {
    await fn(root, `${root}/llama/v0.4.0`);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
}

const HOST = ["avx", "avx2", "fma"];

Deno.test("library: a verified local build comes before the npm prebuilt", async () => {
  await withCache(async (root, release) => {
    const dir = await writeBuild(release, "cpu-native");
    const r = resolveLibrary({ cacheRoot: root, hostFlags: HOST });
    assertEquals(r.dir, dir);
    assertEquals(r.origin, { kind: "local-build", variant: "cpu-native" });
    assertEquals(r.skipped, []);
  });
});

Deno.test("library: without a local build, the npm prebuilt (npm's file names)", async () => {
  await withCache((root) => {
    const r = resolveLibrary({ cacheRoot: root, hostFlags: HOST });
    assertEquals(r.origin.kind, "npm-prebuilt");
    assertEquals(r.origin.package, "@node-llama-cpp/linux-x64");
    assert(prebuiltLibraryDirs().some((p) => p.dir === r.dir));
    assert(Deno.statSync(`${r.dir}/libllama.v0.4.0.so`).isFile);
  });
});

Deno.test("library: builds that were not verified, or changed, or need another CPU are skipped with the reason", async () => {
  await withCache(async (root, release) => {
    await writeBuild(release, "cpu-native", { manifest: false });
    const changed = await writeBuild(release, "cpu-native-rpc");
    await Deno.writeTextFile(`${changed}/libllama.so`, "rebuilt by hand, larger than before");
    await writeBuild(release, "cuda12-sm89", { backend: "cuda", cpuFlags: ["avx2", "avx512f"] });
    const gone = await writeBuild(release, "cuda13-sm90a", { backend: "cuda" });
    await Deno.remove(`${gone}/libggml.so`);
    // Not variants: the cmake trees, the source, a half-installed folder.
    await Deno.mkdir(`${release}/build/cpu-native`, { recursive: true });
    await Deno.mkdir(`${release}/src`, { recursive: true });
    await writeBuild(release, "cpu-native.staging-123");

    const r = resolveLibrary({ cacheRoot: root, hostFlags: HOST });
    assertEquals(r.origin.kind, "npm-prebuilt");
    assertEquals(r.skipped.map((s) => s.dir.slice(release.length + 1)), [
      "cpu-native",
      "cpu-native-rpc",
      "cuda12-sm89",
      "cuda13-sm90a",
    ]);
    const [noManifest, edited, cpu, missing] = r.skipped.map((s) => s.reason);
    assertEquals(noManifest, "no manifest.json (not built, or not verified)");
    assertMatch(edited, /^libllama\.so changed since it was verified \(35 bytes, was 16\)$/);
    assertEquals(cpu, "built for a CPU with avx512f, which this one lacks; rebuild here");
    assertEquals(missing, "libggml.so is missing");
  });
});

Deno.test("library: a manifest that is not the schema, or of another release, is skipped", async () => {
  await withCache(async (_root, release) => {
    const bad = await writeBuild(release, "cpu-native");
    await Deno.writeTextFile(`${bad}/manifest.json`, JSON.stringify({ schema: 1, variant: 3 }));
    const other = await writeBuild(release, "cpu-native-rpc");
    const m = JSON.parse(await Deno.readTextFile(`${other}/manifest.json`));
    m.verified.version = "0.5.1";
    await Deno.writeTextFile(`${other}/manifest.json`, JSON.stringify(m));
    const found = findLocalBuilds(release, SUPPORTED_VERSIONS, HOST);
    assertEquals(found.usable, []);
    assertMatch(found.skipped[0].reason, /^manifest\.json: llama_cpp: /);
    assertEquals(
      found.skipped[1].reason,
      "llama.cpp 0.5.1; this binding supports 0.4.0, 0.4.0-dev",
    );
  });
});

Deno.test("library: CUDA builds come first, then the newest; npm's names count too", async () => {
  await withCache(async (root, release) => {
    await writeBuild(release, "cpu-native", { builtAt: "2026-12-07T09:00:00.000Z" });
    await writeBuild(release, "cuda12-sm89", {
      backend: "cuda",
      builtAt: "2026-12-01T00:00:00.000Z",
    });
    const newest = await writeBuild(release, "cuda13-sm89", {
      backend: "cuda",
      builtAt: "2026-12-05T00:00:00.000Z",
      names: NPM_NAMES,
    });
    const found = findLocalBuilds(release, SUPPORTED_VERSIONS, HOST);
    assertEquals(found.usable.map((b) => b.manifest.variant), [
      "cuda13-sm89",
      "cuda12-sm89",
      "cpu-native",
    ]);
    const r = resolveLibrary({ cacheRoot: root, hostFlags: HOST });
    assertEquals([r.dir, r.origin.variant], [newest, "cuda13-sm89"]);
  });
});

Deno.test("library: library_path wins over local builds; either file name is accepted", async () => {
  await withCache(async (root, release) => {
    await writeBuild(release, "cpu-native");
    const mine = await writeBuild(`${root}/elsewhere`, "by-hand", { manifest: false });
    const r = resolveLibrary({ configured: mine, cacheRoot: root, hostFlags: HOST });
    assertEquals(r.dir, mine);
    assertEquals(r.origin, { kind: "library_path", variant: undefined });
    const npmNamed = await writeBuild(`${root}/elsewhere`, "npm-named", { names: NPM_NAMES });
    const n = resolveLibrary({ configured: npmNamed, cacheRoot: root, hostFlags: HOST });
    // A folder made by llama-build keeps its variant name in reports.
    assertEquals(n.origin, { kind: "library_path", variant: "npm-named" });
    const empty = `${root}/elsewhere/empty`;
    await Deno.mkdir(empty);
    assertThrows(
      () => resolveLibrary({ configured: empty, cacheRoot: root }),
      /library_path .*\/empty holds no libllama\.v0\.4\.0\.so or libllama\.so/,
    );
  });
});
