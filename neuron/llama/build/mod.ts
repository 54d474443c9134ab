/** Local llama.cpp builds: the build command and the cache it installs into. */

export {
  BuildError,
  type BuildOutcome,
  type BuildReporter,
  checkBuildTools,
  llamaBuild,
  type LlamaBuildOptions,
} from "./build.ts";
export { cacheRoot, RELEASE, releasePaths, variantName } from "./cache.ts";
export { SourceError } from "./source.ts";
