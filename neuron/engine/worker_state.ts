/**
 * What the schedulers of one device worker share. Each worker is its own
 * isolate, so this module's state is per device.
 *
 * Generation steps may decode on the worker's own thread (see scheduler.ts).
 * A worker busy that way takes its messages late — Deno polls a worker's
 * incoming messages behind its own tasks (30 ms lag measured) — so the main
 * thread rings a shared doorbell with every message, and a ringing doorbell
 * makes the scheduler yield through a real event-loop turn.
 */
export const workerState = {
  /** Schedulers with requests: a blocking decode would stall the others. */
  busyLoops: 0,
  /** Model loads in progress: their progress callbacks need the event loop. */
  loads: 0,
  doorbell: null as Int32Array | null,
  seen: 0,
};

/** True (once per ring) when the main thread has sent messages since the last check. */
export function messagesWaiting(): boolean {
  const d = workerState.doorbell;
  if (!d) return false;
  const v = Atomics.load(d, 0);
  if (v === workerState.seen) return false;
  workerState.seen = v;
  return true;
}
