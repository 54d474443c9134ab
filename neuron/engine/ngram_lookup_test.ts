import { assertEquals } from "../../tests/assert.ts";
import { lookupDraft } from "./ngram_lookup.ts";

Deno.test("lookupDraft continues the most recent match of the longest suffix", () => {
  // "1 2 3 4 5 6 ... 1 2 3" → drafts "4 5 6".
  assertEquals(lookupDraft([1, 2, 3, 4, 5, 6, 9, 1, 2, 3], 3), [4, 5, 6]);
  // Capped at max, and at the end of the history.
  assertEquals(lookupDraft([1, 2, 3, 4, 5, 6, 9, 1, 2, 3], 2), [4, 5]);
  assertEquals(lookupDraft([7, 8, 9, 7, 8], 10), [9, 7, 8]);
  // A longer match beats a more recent shorter one.
  assertEquals(lookupDraft([1, 2, 3, 10, 0, 2, 3, 20, 1, 2, 3], 1), [10]);
  // Among equal lengths the most recent wins.
  assertEquals(lookupDraft([2, 3, 10, 2, 3, 20, 2, 3], 1), [20]);
});

Deno.test("lookupDraft drafts nothing without a match of at least two tokens", () => {
  assertEquals(lookupDraft([1, 2, 3, 4], 4), []);
  // Only the last token repeats: a one-token match does not draft.
  assertEquals(lookupDraft([5, 1, 9, 5], 4), []);
  assertEquals(lookupDraft([1, 2], 4), []);
  assertEquals(lookupDraft([1, 2, 1, 2], 0), []);
});
