/**
 * The verified native CPU build of llama.cpp in this user's cache (`deno task llama-build`),
 * which every neuron on this host runs when it is there: peers compared with a neuron must use
 * it too.
 */

import { cacheRoot, releasePaths } from "../../../neuron/llama/build/cache.ts";
import { hostCpuFlags } from "../../../neuron/llama/cpu_flags.ts";
import { SUPPORTED_VERSIONS } from "../../../neuron/llama/library.ts";
import { findLocalBuilds } from "../../../neuron/llama/local_builds.ts";

/** The folder of the preferred CPU build (holding llama-server when `peer`), or null. */
export function nativeBuild(peer: boolean): string | null {
  const found = findLocalBuilds(
    releasePaths(cacheRoot(Deno.env.toObject())).dir,
    SUPPORTED_VERSIONS,
    hostCpuFlags(),
  );
  const cpu = found.usable.filter((b) => b.manifest.backend === "cpu");
  const b = cpu.find((b) => !peer || b.manifest.programs.includes("llama-server"));
  return b?.dir ?? null;
}
