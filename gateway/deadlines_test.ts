import { assert, assertEquals } from "../tests/assert.ts";
import { HttpError } from "../core/errors.ts";
import { Deadlines } from "./deadlines.ts";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

Deno.test("Deadlines: a request past the limit is aborted with a 504; a released one never", async () => {
  const d = new Deadlines(60, 10);
  const late = d.start();
  const done = d.start();
  done.release();
  assertEquals(d.size, 1);
  await sleep(30);
  assert(!late.signal.aborted, "not before the limit");
  await sleep(100);
  assert(late.signal.aborted, "aborted after the limit");
  const reason = late.signal.reason;
  assert(reason instanceof HttpError);
  assertEquals([reason.status, reason.code], [504, "timeout"]);
  assertEquals(reason.message, "the request took longer than request_timeout (60ms)");
  assert(!done.signal.aborted);
  assertEquals(d.size, 0, "nothing left to time: the timer stopped");
});

Deno.test("Deadlines: each request gets its own full limit", async () => {
  const d = new Deadlines(80, 10);
  const first = d.start();
  await sleep(50);
  const second = d.start();
  await sleep(60);
  assert(first.signal.aborted);
  assert(!second.signal.aborted, "the second started 50 ms later");
  await sleep(60);
  assert(second.signal.aborted);
});
