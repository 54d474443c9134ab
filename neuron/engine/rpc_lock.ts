/**
 * One decode at a time over RPC devices, process-wide. ggml's RPC client reuses the graph a
 * device computed last when the next one has the same id, and it checks and sends that from
 * the calling thread while the server keeps one stored graph per device: two contexts decoding
 * over the same RPC device at once can have the server recompute the other context's graph
 * (seen as garbled output from two split models served together). Decodes over RPC therefore
 * take this lock around `llama_decode` (which queues all of a step's calls to the server, in
 * order, before it returns); the wait for the results stays outside it.
 *
 * Shared by every device worker (one SharedArrayBuffer per process), waited on without blocking
 * the worker's event loop: by polling on a timer, because Deno's event loop neither wakes for
 * nor stays alive on an `Atomics.waitAsync` promise. Only models split over RPC contend for it.
 */

/** [0]: held; [1]: an RPC server was lost (no decode over RPC finishes again). */
export function newRpcLock(): SharedArrayBuffer {
  return new SharedArrayBuffer(8);
}

/**
 * An RPC server was lost: its holder is parked for good, so waiters stop polling and park too
 * (their models are abandoned, as every model split over RPC is).
 */
export function markRpcLost(lock: Int32Array): void {
  Atomics.store(lock, 1, 1);
}

export async function withRpcLock<T>(lock: Int32Array, fn: () => Promise<T>): Promise<T> {
  while (Atomics.compareExchange(lock, 0, 0, 1) !== 0) {
    if (Atomics.load(lock, 1)) await new Promise<never>(() => {});
    await new Promise((r) => setTimeout(r, 1));
  }
  try {
    return await fn();
  } finally {
    Atomics.store(lock, 0, 0);
  }
}
