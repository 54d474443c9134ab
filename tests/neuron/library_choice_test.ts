/**
 * Which llama.cpp a real neuron process loads, and what it says about it: a verified local
 * build in its cache comes before the npm prebuilt, one that changed since it was verified is
 * passed over with the reason in the log, and `/discovery` names what runs.
 *
 * The "local build" here is the npm prebuilt's own files linked into a cache folder with a
 * manifest, as `cortex llama-build` leaves one (CI never builds llama.cpp).
 */

import { assert, assertEquals, assertMatch } from "../assert.ts";
import { spawnServer, writeConfig } from "../helpers/processes.ts";
import type { LibraryManifest } from "../../core/neuron/library_manifest.ts";
import { DiscoverySchema } from "../../core/neuron/schemas.ts";
import { findFile, NAMES, prebuiltLibraryDirs } from "../../neuron/llama/library.ts";
import { hostCpuFlags } from "../../neuron/llama/cpu_flags.ts";

const prebuilt = prebuiltLibraryDirs().find((p) => findFile(p.dir, NAMES.llama))!.dir;

/** A cache root holding a cpu-native build made of links to the prebuilt files. */
async function cacheWithBuild(): Promise<{ root: string; dir: string }> {
  const root = await Deno.makeTempDir({ prefix: "cortex-cache-" });
  const dir = `${root}/llama/v0.4.0/cpu-native`;
  await Deno.mkdir(dir, { recursive: true });
  const files: Record<string, number> = {};
  for (const e of Deno.readDirSync(prebuilt)) {
    if (!e.name.endsWith(".so")) continue;
    await Deno.symlink(`${prebuilt}/${e.name}`, `${dir}/${e.name}`);
    files[e.name] = (await Deno.stat(`${dir}/${e.name}`)).size;
  }
  const manifest: LibraryManifest = {
    schema: 1,
    llama_cpp: "0.4.0",
    variant: "cpu-native",
    backend: "cpu",
    cuda: null,
    rpc: false,
    source: { from: "npm:node-llama-cpp@3.21.1", commit: null },
    cmake_flags: [],
    cpu_flags: hostCpuFlags() ?? [],
    built_at: new Date().toISOString(),
    files,
    programs: [],
    verified: {
      at: new Date().toISOString(),
      version: "0.4.0",
      backends_layout: "dynamic",
      devices: ["CPU"],
      system_info: "",
    },
  };
  await Deno.writeTextFile(`${dir}/manifest.json`, JSON.stringify(manifest));
  return { root, dir };
}

async function discovery(url: string) {
  const r = await fetch(`${url}/discovery`);
  assertEquals(r.status, 200);
  return DiscoverySchema.parse(await r.json());
}

async function neuronWith(root: string) {
  const config = await writeConfig("neuron.toml", `listen = "127.0.0.1:0"\nn_threads = 1\n`);
  return await spawnServer("cli/neuron.ts", config, { env: { CORTEX_CACHE_DIR: root } });
}

Deno.test("neuron: runs a verified local build before the prebuilt, and says so", async () => {
  const { root, dir } = await cacheWithBuild();
  const n = await neuronWith(root);
  try {
    const d = await discovery(n.url);
    assertEquals(d.library.dir, dir, n.log());
    assertEquals(d.library.origin, "local-build");
    assertEquals(d.library.variant, "cpu-native");
    assertMatch(d.library.version, /^0\.4\.0/);
    assert(d.library.backends?.includes("CPU"), JSON.stringify(d.library.backends));
    assertMatch(
      n.log(),
      /llama\.cpp library dir=\S+cpu-native origin=local-build variant=cpu-native version=0\.4\.0/,
    );
  } finally {
    await n.stop();
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("neuron: a local build changed since its verification is passed over, with the reason", async () => {
  const { root, dir } = await cacheWithBuild();
  const m = JSON.parse(await Deno.readTextFile(`${dir}/manifest.json`)) as LibraryManifest;
  m.files["libllama.v0.4.0.so"] += 1;
  await Deno.writeTextFile(`${dir}/manifest.json`, JSON.stringify(m));
  const n = await neuronWith(root);
  try {
    const d = await discovery(n.url);
    assertEquals(d.library.dir, prebuilt);
    assertEquals(d.library.origin, "npm-prebuilt");
    assertEquals(d.library.variant, "@node-llama-cpp/linux-x64");
    assertMatch(
      n.log(),
      /WARN +llama\.cpp: local llama\.cpp build not used dir=\S+cpu-native reason="libllama\.v0\.4\.0\.so changed since it was verified/,
    );
  } finally {
    await n.stop();
    await Deno.remove(root, { recursive: true });
  }
});
