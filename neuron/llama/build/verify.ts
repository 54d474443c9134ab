/**
 * A build counts once it loads: the binding opens the libraries as the neuron does (version
 * and struct layout checks included), registers the backends and lists the devices.
 */

import { listDevices } from "../devices.ts";
import { openLlamaLibrary } from "../library.ts";
import type { Logger } from "../../../core/log.ts";

export interface Verified {
  version: string;
  backendsLayout: "linked" | "dynamic";
  backends: string[];
  devices: { name: string; description: string; type: string; backend: string }[];
  systemInfo: string;
}

/** Opens the libraries in `dir` in this process; throws LibraryError when they do not load. */
export function verifyLibraries(dir: string, log: Logger): Verified {
  const lib = openLlamaLibrary({ dir, log, primary: true });
  try {
    return {
      version: lib.version,
      backendsLayout: lib.backendsLayout,
      backends: lib.backends,
      devices: listDevices(lib).map((d) => ({
        name: d.name,
        description: d.description,
        type: d.type,
        backend: d.backend,
      })),
      systemInfo: lib.systemInfo,
    };
  } finally {
    lib.close();
  }
}
