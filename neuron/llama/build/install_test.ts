import { assertEquals, assertRejects } from "../../../tests/assert.ts";
import type { LibraryManifest } from "../../../core/neuron/library_manifest.ts";
import { commitInstall, copyBuildOutputs } from "./install.ts";

Deno.test("install: shared libraries (symlinks kept) and the asked programs, nothing else", async () => {
  const dir = await Deno.makeTempDir({ prefix: "llama-install-" });
  try {
    const bin = `${dir}/build/bin`;
    await Deno.mkdir(bin, { recursive: true });
    for (const f of ["libggml-base.so.0.9.7", "libllama.so.0.0.1", "llama-server", "test-x"]) {
      await Deno.writeTextFile(`${bin}/${f}`, f);
    }
    await Deno.symlink("libggml-base.so.0.9.7", `${bin}/libggml-base.so.0`);
    await Deno.symlink("libggml-base.so.0", `${bin}/libggml-base.so`);
    await Deno.symlink("libllama.so.0.0.1", `${bin}/libllama.so`);
    const files = await copyBuildOutputs(bin, `${dir}/staged`, ["llama-server"]);
    assertEquals(files, {
      "libggml-base.so.0.9.7": 21,
      "libllama.so.0.0.1": 17,
      "llama-server": 12,
    });
    assertEquals(await Deno.readLink(`${dir}/staged/libggml-base.so`), "libggml-base.so.0");
    assertEquals(await Deno.readTextFile(`${dir}/staged/libllama.so`), "libllama.so.0.0.1");
    await assertRejects(
      () => copyBuildOutputs(bin, `${dir}/staged2`, ["ggml-rpc-server"]),
      /holds no ggml-rpc-server after the build/,
    );

    // The staged folder replaces the installed one whole.
    await Deno.mkdir(`${dir}/cpu-native`);
    await Deno.writeTextFile(`${dir}/cpu-native/stale.so`, "old");
    await commitInstall(
      `${dir}/staged`,
      `${dir}/cpu-native`,
      { variant: "cpu-native" } as LibraryManifest,
    );
    const names = [...Deno.readDirSync(`${dir}/cpu-native`)].map((e) => e.name).sort();
    assertEquals(names, [
      "libggml-base.so",
      "libggml-base.so.0",
      "libggml-base.so.0.9.7",
      "libllama.so",
      "libllama.so.0.0.1",
      "llama-server",
      "manifest.json",
    ]);
    const left = [...Deno.readDirSync(dir)].map((e) => e.name).sort();
    assertEquals(left, ["build", "cpu-native", "staged2"]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
