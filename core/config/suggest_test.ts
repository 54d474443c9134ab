import assert from "node:assert/strict";
import { closestName, editDistance } from "./suggest.ts";

Deno.test("editDistance counts single-character edits", () => {
  assert.equal(editDistance("listen", "listen"), 0);
  assert.equal(editDistance("lsiten", "listen"), 2);
  assert.equal(editDistance("", "abc"), 3);
  assert.equal(editDistance("kitten", "sitting"), 3);
});

Deno.test("closestName suggests plausible typos only", () => {
  const keys = ["listen", "metrics_listen", "poll_interval"];
  assert.equal(closestName("lsiten", keys), "listen");
  assert.equal(closestName("poll_intervall", keys), "poll_interval");
  assert.equal(closestName("LISTEN", keys), "listen");
  assert.equal(closestName("completely_else", keys), undefined);
  assert.equal(closestName("rt", ["log"]), undefined);
  assert.equal(closestName("rt_log_level", ["log_level"]), "log_level");
  assert.equal(closestName("rt_log_level", ["log_level"], 2), undefined);
});
