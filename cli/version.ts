/** What `--version` prints: the product's version, its runtime and the llama.cpp it binds. */

import { NEURON_VERSION } from "../neuron/api/node_info.ts";
import { SUPPORTED_VERSIONS } from "../neuron/llama/library.ts";

export function versionLine(binary: "cortex" | "neuron"): string {
  return `${binary} ${NEURON_VERSION} (deno ${Deno.version.deno}, llama.cpp ${
    SUPPORTED_VERSIONS[0]
  })`;
}
