/**
 * Local llama.cpp builds (`cortex llama-build`) the neuron may load instead of the npm
 * prebuilt. A build counts only when its manifest says it was verified (it loaded, with the
 * binding's layouts) and nothing changed since: every file it lists is there with its size,
 * the release is one the binding supports, and this CPU has every extension it was built for.
 */

import { LibraryManifestSchema, MANIFEST_FILE } from "../../core/neuron/library_manifest.ts";
import type { LibraryManifest } from "../../core/neuron/library_manifest.ts";
import { NOT_VARIANTS } from "./build/cache.ts";
import { missingCpuFlags } from "./cpu_flags.ts";

export interface LocalBuild {
  dir: string;
  manifest: LibraryManifest;
}

/** A build folder that was looked at and not taken, and why. */
export interface SkippedBuild {
  dir: string;
  reason: string;
}

/** Checks one build folder; a reason when it must not be used. */
export function checkBuild(
  dir: string,
  supported: readonly string[],
  hostFlags: string[] | null,
): LocalBuild | SkippedBuild {
  let text: string;
  try {
    text = Deno.readTextFileSync(`${dir}/${MANIFEST_FILE}`);
  } catch {
    return { dir, reason: `no ${MANIFEST_FILE} (not built, or not verified)` };
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    return { dir, reason: `${MANIFEST_FILE} is not JSON: ${(e as Error).message}` };
  }
  const parsed = LibraryManifestSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    return { dir, reason: `${MANIFEST_FILE}: ${issue.path.join(".")}: ${issue.message}` };
  }
  const m = parsed.data;
  if (!supported.includes(m.verified.version)) {
    return {
      dir,
      reason: `llama.cpp ${m.verified.version}; this binding supports ${supported.join(", ")}`,
    };
  }
  for (const [name, size] of Object.entries(m.files)) {
    let actual: number;
    try {
      actual = Deno.statSync(`${dir}/${name}`).size;
    } catch {
      return { dir, reason: `${name} is missing` };
    }
    if (actual !== size) {
      return {
        dir,
        reason: `${name} changed since it was verified (${actual} bytes, was ${size})`,
      };
    }
  }
  if (hostFlags === null) {
    return { dir, reason: "cannot read this CPU's extensions (/proc/cpuinfo) to check them" };
  }
  const missing = missingCpuFlags(m.cpu_flags, hostFlags);
  if (missing.length) {
    return {
      dir,
      reason: `built for a CPU with ${missing.join(", ")}, which this one lacks; rebuild here`,
    };
  }
  return { dir, manifest: m };
}

/**
 * Every variant folder of a release folder, usable ones first in the order the neuron
 * prefers them: CUDA builds before CPU ones (a GPU host built one on purpose), then the
 * newest build first.
 */
export function findLocalBuilds(
  releaseDir: string,
  supported: readonly string[],
  hostFlags: string[] | null,
): { usable: LocalBuild[]; skipped: SkippedBuild[] } {
  const usable: LocalBuild[] = [];
  const skipped: SkippedBuild[] = [];
  let entries: Deno.DirEntry[];
  try {
    entries = [...Deno.readDirSync(releaseDir)];
  } catch {
    return { usable, skipped }; // nothing built on this host
  }
  for (const e of entries) {
    // Staging and replaced folders ("<variant>.staging-…", "<variant>.old-…") are not builds.
    if (!e.isDirectory || NOT_VARIANTS.has(e.name) || e.name.includes(".")) continue;
    const r = checkBuild(`${releaseDir}/${e.name}`, supported, hostFlags);
    if ("manifest" in r) usable.push(r);
    else skipped.push(r);
  }
  const rank = (b: LocalBuild) => (b.manifest.backend === "cuda" ? 0 : 1);
  usable.sort((a, b) =>
    rank(a) - rank(b) || b.manifest.built_at.localeCompare(a.manifest.built_at)
  );
  skipped.sort((a, b) => a.dir.localeCompare(b.dir));
  return { usable, skipped };
}
