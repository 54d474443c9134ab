/**
 * What the schedulers of one device worker share. Each worker is its own
 * isolate, so this module's state is per device.
 *
 * Generation steps may decode on the worker's own thread (see scheduler.ts).
 * A worker busy that way takes its messages late — Deno polls a worker's
 * incoming messages behind its own tasks (30 ms lag measured) — so the main
 * thread rings a shared doorbell with every message, and while the rings
 * outnumber the messages received the scheduler yields through a real
 * event-loop turn. Counting what arrived, not what was seen ringing, matters:
 * one turn may deliver only some of several messages sent together.
 */
import { newRpcLock } from "./rpc_lock.ts";

export const workerState = {
  /** Schedulers with requests: a blocking decode would stall the others. */
  busyLoops: 0,
  /** Model loads in progress: their progress callbacks need the event loop. */
  loads: 0,
  doorbell: null as Int32Array | null,
  /** Shared by every worker (set at init): one decode over RPC devices at a time (rpc_lock.ts). */
  rpcLock: new Int32Array(newRpcLock()),
  /** Messages the worker's handler has taken (each rang once). */
  received: 0,
};

/** True while the main thread has sent messages this worker has not taken yet. */
export function messagesWaiting(): boolean {
  const d = workerState.doorbell;
  return d !== null && Atomics.load(d, 0) !== workerState.received;
}
