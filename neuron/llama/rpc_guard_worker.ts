/**
 * Holds llama.cpp's RPC client when its server goes away. ggml's RPC client calls
 * GGML_ABORT (abort(): the whole process) when a server stops answering mid-call. ggml lets
 * a callback run first; this worker's callback is that hook. For an RPC failure it reports
 * to the main thread and then never returns (Atomics.wait on this worker's own thread), so
 * the calling ggml thread is parked instead of aborting the process: the decode or load
 * waiting on it never finishes, and the neuron fails the models that used the server while
 * it keeps serving the rest. Any other abort returns, and the process aborts as before.
 */

/// <reference lib="deno.worker" />

export interface GuardInit {
  /** libggml-base.so, already loaded by the process: dlopen returns the same library. */
  basePath: string;
}

export type GuardReport = { op: "ready" } | { op: "abort"; message: string; rpc: boolean };

self.onmessage = (e: MessageEvent<GuardInit>) => {
  const base = Deno.dlopen(e.data.basePath, {
    ggml_set_abort_callback: { parameters: ["function"], result: "pointer" },
  });
  const parked = new Int32Array(new SharedArrayBuffer(4));
  const cb = Deno.UnsafeCallback.threadSafe(
    { parameters: ["pointer"], result: "void" },
    (msg) => {
      const message = msg === null ? "" : Deno.UnsafePointerView.getCString(msg);
      const rpc = message.includes("ggml-rpc");
      self.postMessage({ op: "abort", message, rpc } satisfies GuardReport);
      if (rpc) Atomics.wait(parked, 0, 0); // never woken: the ggml thread stays parked
      else console.error(message); // ggml's own message, then abort() as without the hook
    },
  );
  base.symbols.ggml_set_abort_callback(cb.pointer);
  self.postMessage({ op: "ready" } satisfies GuardReport);
};
