/**
 * Puts a build's libraries and programs into their cache folder: staged beside it, verified
 * there by loading, then swapped in by rename, so a neuron never sees a half-written folder.
 */

import { MANIFEST_FILE } from "../../../core/neuron/library_manifest.ts";
import type { LibraryManifest } from "../../../core/neuron/library_manifest.ts";

/** Shared libraries in a cmake `bin/` folder: libfoo.so, libfoo.so.0, libfoo.so.0.9.7. */
const SHARED_LIB = /^lib.+\.so(\.\d+)*$/;

/**
 * Copies every shared library of `bin` (symlinks as symlinks) and the named programs into
 * `dest`; returns the regular files and their sizes.
 */
export async function copyBuildOutputs(
  bin: string,
  dest: string,
  programs: string[],
): Promise<Record<string, number>> {
  await Deno.mkdir(dest, { recursive: true });
  const files: Record<string, number> = {};
  for await (const e of Deno.readDir(bin)) {
    const wanted = SHARED_LIB.test(e.name) || programs.includes(e.name);
    if (!wanted) continue;
    const from = `${bin}/${e.name}`;
    if (e.isSymlink) {
      await Deno.symlink(await Deno.readLink(from), `${dest}/${e.name}`);
      continue;
    }
    await Deno.copyFile(from, `${dest}/${e.name}`);
    files[e.name] = (await Deno.stat(`${dest}/${e.name}`)).size;
  }
  const missing = programs.filter((p) => !(p in files));
  if (missing.length) throw new Error(`${bin} holds no ${missing.join(", ")} after the build`);
  return Object.fromEntries(Object.entries(files).sort(([a], [b]) => a.localeCompare(b)));
}

/** Writes the manifest into the staged folder and swaps it in for `dest`. */
export async function commitInstall(
  staged: string,
  dest: string,
  manifest: LibraryManifest,
): Promise<void> {
  await Deno.writeTextFile(`${staged}/${MANIFEST_FILE}`, JSON.stringify(manifest, null, 2) + "\n");
  const old = `${dest}.old-${Date.now()}`;
  const hadOld = await Deno.rename(dest, old).then(() => true, () => false);
  await Deno.rename(staged, dest);
  // A running neuron keeps the files it mapped; their names can go.
  if (hadOld) await Deno.remove(old, { recursive: true }).catch(() => {});
}
