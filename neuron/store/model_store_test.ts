import { assertEquals, assertRejects } from "../../tests/assert.ts";
import { ModelStore, StoreError } from "./model_store.ts";

Deno.test("a symlink out of the store is neither listed nor resolvable; one inside is both", async () => {
  const tmp = await Deno.makeTempDir({ prefix: "cortex-store-test-" });
  try {
    const store = `${tmp}/store`;
    await Deno.mkdir(`${store}/org`, { recursive: true });
    await Deno.mkdir(`${tmp}/outside`);
    await Deno.writeFile(`${store}/org/real.gguf`, new Uint8Array(10));
    await Deno.writeFile(`${tmp}/outside/secret.gguf`, new Uint8Array(1234));
    await Deno.writeFile(`${tmp}/outside/secret`, new Uint8Array(99));
    await Deno.symlink(`${tmp}/outside/secret.gguf`, `${store}/escape.gguf`);
    await Deno.symlink(`../../outside/secret`, `${store}/org/relative-escape.gguf`);
    await Deno.symlink(`${store}/org/real.gguf`, `${store}/alias.gguf`);
    await Deno.symlink(`${tmp}/missing.gguf`, `${store}/dangling.gguf`);

    const s = new ModelStore([store]);
    const listed = await s.list();
    assertEquals(listed.map((e) => e.id), ["alias", "org/real"]);
    assertEquals(listed.map((e) => e.sizeBytes), [10, 10]);

    assertEquals((await s.resolve("alias")).sizeBytes, 10);
    for (const id of ["escape", "org/relative-escape"]) {
      await assertRejects(
        () => s.resolve(id),
        (e) => e instanceof StoreError && e.code === "invalid_id",
      );
    }
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});

Deno.test("a store dir that is itself a symlink lists its files", async () => {
  const tmp = await Deno.makeTempDir({ prefix: "cortex-store-test-" });
  try {
    await Deno.mkdir(`${tmp}/real`);
    await Deno.writeFile(`${tmp}/real/m.gguf`, new Uint8Array(3));
    await Deno.symlink(`${tmp}/real`, `${tmp}/link`);
    await Deno.symlink(`${tmp}/real/m.gguf`, `${tmp}/real/n.gguf`);
    const listed = await new ModelStore([`${tmp}/link`]).list();
    assertEquals(listed.map((e) => e.id), ["m", "n"]);
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});
