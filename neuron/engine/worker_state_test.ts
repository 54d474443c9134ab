import { assertEquals } from "../../tests/assert.ts";
import { messagesWaiting, workerState } from "./worker_state.ts";

Deno.test("messagesWaiting: rings outnumbering the messages taken keep it true", () => {
  const bell = new Int32Array(new SharedArrayBuffer(4));
  workerState.doorbell = bell;
  workerState.received = 0;
  try {
    assertEquals(messagesWaiting(), false);
    Atomics.add(bell, 0, 1);
    Atomics.add(bell, 0, 1);
    assertEquals(messagesWaiting(), true);
    workerState.received++; // one turn delivered only the first message
    assertEquals(messagesWaiting(), true, "the second is still on its way");
    workerState.received++;
    assertEquals(messagesWaiting(), false);
  } finally {
    workerState.doorbell = null;
    workerState.received = 0;
  }
});
