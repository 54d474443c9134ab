import { assert, assertEquals } from "../../tests/assert.ts";
import { DRAFT_MODEL_GIVE_UP, DraftBudget, MAX_PAUSE } from "./draft_budget.ts";

Deno.test("DraftBudget starts short, doubles to the maximum while drafts are accepted", () => {
  const b = new DraftBudget(8);
  const lengths: number[] = [];
  for (let i = 0; i < 5; i++) {
    const k = b.next();
    lengths.push(k);
    b.record(k, k);
  }
  assertEquals(lengths, [2, 4, 8, 8, 8]);
  b.record(8, 3);
  assertEquals(b.next(), 4, "partly accepted: what was accepted plus one");
  b.record(4, 4);
  assertEquals(b.next(), 8, "fully accepted again: doubles back up");
  // A maximum below the start is the start.
  assertEquals(new DraftBudget(1).next(), 1);
});

Deno.test("DraftBudget pauses after misses, doubling up to the cap, so rejection costs little", () => {
  const b = new DraftBudget(8);
  let attempts = 0;
  let drafted = 0;
  for (let step = 0; step < 1000; step++) {
    const k = b.next();
    if (k === 0) continue;
    attempts++;
    drafted += k;
    b.record(k, 0);
  }
  // 2, then one token at steps doubling apart up to MAX_PAUSE.
  assert(attempts <= 6 + Math.ceil(1000 / (MAX_PAUSE + 1)), `${attempts} attempts`);
  assert(drafted <= 2 + 5 + Math.ceil(1000 / MAX_PAUSE), `${drafted} tokens drafted`);
  // An accepted token ends the pause streak.
  b.record(1, 1);
  let k = 0;
  for (let i = 0; i <= MAX_PAUSE && k === 0; i++) k = b.next();
  assertEquals(k, 2);
});

Deno.test("DraftBudget gives up for good after enough misses in a row, when asked to", () => {
  const { giveUpAfter, giveUpUnprovenAfter } = DRAFT_MODEL_GIVE_UP;
  // Never right: it gives up after the shorter run.
  const never = new DraftBudget(8, DRAFT_MODEL_GIVE_UP);
  let probes = 0;
  for (let step = 0; step < 2000; step++) {
    const k = never.next();
    if (k) (probes++, never.record(k, 0));
  }
  assertEquals(probes, giveUpUnprovenAfter);
  assert(never.exhausted);
  // Right once: the longer run counts from then on.
  const b = new DraftBudget(8, DRAFT_MODEL_GIVE_UP);
  let attempts = 0;
  let lastAttempt = 0;
  for (let step = 0; step < 2000; step++) {
    const k = b.next();
    if (k === 0) continue;
    attempts++;
    lastAttempt = step;
    // A hit before the last miss resets the run: only misses in a row count.
    b.record(k, attempts === 3 ? k : 0);
  }
  assertEquals(attempts, giveUpAfter + 3);
  assert(b.exhausted);
  assert(lastAttempt < 300, `last attempt at step ${lastAttempt}`);
  // Without giveUpAfter it never stops trying.
  const forever = new DraftBudget(8);
  let late = 0;
  for (let step = 0; step < 2000; step++) {
    const k = forever.next();
    if (k) forever.record(k, 0);
    if (k && step > 1000) late++;
  }
  assert(late > 0 && !forever.exhausted);
});
