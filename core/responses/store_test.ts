import assert from "node:assert/strict";
import { toOpenAIErrorBody } from "../errors.ts";
import { inProgressResponse } from "./from_chat.ts";
import { historyFromChain, type StoredResponse, storedResponse } from "./history.ts";
import { parseResponsesRequest } from "./request.ts";
import type { OutputItem } from "./response.ts";
import { ResponseNotFoundError, ResponseStore } from "./store.ts";
import { responsesToChat } from "./to_chat.ts";

/** A clock the test moves by hand. */
function clock(start = 1_000_000) {
  let t = start;
  return { now: () => t, advance: (ms: number) => (t += ms) };
}

/** A stored record for response `id` continuing `previous`, answering `input`. */
function record(
  id: string,
  previous: string | null = null,
  input: unknown = `question for ${id}`,
  output: OutputItem[] = [],
  store?: boolean,
): StoredResponse {
  const request = parseResponsesRequest({
    model: "qwen3",
    input,
    previous_response_id: previous,
    ...(store === undefined ? {} : { store }),
  });
  const response = {
    ...inProgressResponse({ request, id, createdAt: 1 }),
    status: "completed" as const,
    output,
  };
  return storedResponse(request, response);
}

function store(maxEntries = 10, maxAgeMs = 60_000, c = clock()) {
  return { s: new ResponseStore({ maxEntries, maxAgeMs, now: c.now }), c };
}

Deno.test("put and get; unknown ids are undefined", () => {
  const { s } = store();
  const r = record("resp_1");
  assert.equal(s.put(r), true);
  assert.equal(s.get("resp_1"), r);
  assert.equal(s.get("resp_2"), undefined);
  assert.equal(s.size, 1);
});

Deno.test("records expire maxAgeMs after put; reading does not extend them", () => {
  const { s, c } = store(10, 1000);
  s.put(record("resp_1"));
  c.advance(600);
  s.put(record("resp_2"));
  assert.ok(s.get("resp_1"), "young enough");
  c.advance(399);
  assert.ok(s.get("resp_1"), "999 ms old");
  c.advance(1);
  assert.equal(s.get("resp_1"), undefined, "1000 ms old: expired");
  assert.ok(s.get("resp_2"));
  assert.equal(s.size, 1);
  c.advance(600);
  assert.equal(s.size, 0, "size counts live records only");
});

Deno.test("LRU bound: the least recently used record is evicted first", () => {
  const { s } = store(3);
  s.put(record("resp_1"));
  s.put(record("resp_2"));
  s.put(record("resp_3"));
  assert.ok(s.get("resp_1"), "reading resp_1 makes resp_2 the least recently used");
  s.put(record("resp_4"));
  assert.equal(s.size, 3);
  assert.equal(s.get("resp_2"), undefined);
  assert.deepEqual(["resp_1", "resp_3", "resp_4"].map((id) => Boolean(s.get(id))), [
    true,
    true,
    true,
  ]);
  // Re-putting an id replaces it without growing the store.
  s.put(record("resp_4", null, "replaced"));
  assert.equal(s.size, 3);
  assert.deepEqual(s.get("resp_4")?.inputItems, [
    { type: "message", role: "user", content: "replaced" },
  ]);
});

Deno.test("store: false responses are never kept", () => {
  const { s } = store();
  assert.equal(s.put(record("resp_1", null, "x", [], false)), false);
  assert.equal(s.get("resp_1"), undefined);
  assert.equal(s.size, 0);
});

Deno.test("chain: oldest first, ending with the requested id", () => {
  const { s } = store();
  s.put(record("resp_1"));
  s.put(record("resp_2", "resp_1"));
  s.put(record("resp_3", "resp_2"));
  s.put(record("resp_x")); // unrelated
  assert.deepEqual(s.chain("resp_3").map((r) => r.response.id), ["resp_1", "resp_2", "resp_3"]);
  assert.deepEqual(s.chain("resp_1").map((r) => r.response.id), ["resp_1"]);
});

Deno.test("chain: an unknown or expired link is a typed 404 naming the ids", () => {
  const { s, c } = store(10, 1000);
  assert.throws(() => s.chain("resp_nope"), (e) => {
    assert.ok(e instanceof ResponseNotFoundError);
    assert.equal(e.id, "resp_nope");
    assert.deepEqual(toOpenAIErrorBody(e), {
      error: {
        message:
          'previous_response_id: no response with id "resp_nope" (unknown, expired or evicted from cortex\'s in-memory store)',
        type: "invalid_request_error",
        param: "previous_response_id",
        code: "previous_response_not_found",
      },
    });
    return true;
  });

  s.put(record("resp_1"));
  c.advance(500);
  s.put(record("resp_2", "resp_1"));
  c.advance(500); // resp_1 is now 1000 ms old
  assert.throws(() => s.chain("resp_2"), (e) => {
    assert.ok(e instanceof ResponseNotFoundError);
    assert.equal(e.status, 404);
    assert.equal(e.id, "resp_1");
    assert.equal(e.requestedId, "resp_2");
    assert.match(e.message, /response "resp_2" continues "resp_1", which is gone/);
    return true;
  });
});

Deno.test("chain: a record that continues itself is reported, not looped over", () => {
  const { s } = store();
  s.put(record("resp_1", "resp_1"));
  assert.throws(() => s.chain("resp_1"), /loops at resp_1/);
});

Deno.test("options are checked", () => {
  assert.throws(() => new ResponseStore({ maxEntries: 0, maxAgeMs: 1 }), RangeError);
  assert.throws(() => new ResponseStore({ maxEntries: 1.5, maxAgeMs: 1 }), RangeError);
  assert.throws(() => new ResponseStore({ maxEntries: 1, maxAgeMs: 0 }), RangeError);
});

Deno.test("delete forgets a record", () => {
  const { s } = store();
  s.put(record("resp_1"));
  assert.equal(s.delete("resp_1"), true);
  assert.equal(s.delete("resp_1"), false);
  assert.equal(s.get("resp_1"), undefined);
});

Deno.test("a chain becomes the history of the next request, items in order", () => {
  const { s } = store();
  const call: OutputItem = {
    type: "function_call",
    id: "fc_1",
    call_id: "call_a",
    name: "get_weather",
    arguments: '{"city":"Oslo"}',
    status: "completed",
  };
  s.put(record("resp_1", null, "Weather in Oslo?", [
    {
      type: "reasoning",
      id: "rs_1",
      summary: [{ type: "summary_text", text: "Use the tool." }],
      status: "completed",
    },
    call,
  ]));
  s.put(record("resp_2", "resp_1", [
    { type: "function_call_output", call_id: "call_a", output: "12 °C" },
  ], [{
    type: "message",
    id: "msg_2",
    status: "completed",
    role: "assistant",
    content: [{ type: "output_text", text: "12 °C in Oslo.", annotations: [] }],
  }]));

  const history = historyFromChain(s.chain("resp_2"));
  assert.deepEqual(history.map((i) => i.type), [
    "message",
    "reasoning",
    "function_call",
    "function_call_output",
    "message",
  ]);

  // The next turn, as the gateway runs it: the chain's items, then the new input.
  const next = parseResponsesRequest({
    model: "qwen3",
    previous_response_id: "resp_2",
    instructions: "Be terse.",
    input: "And Bergen?",
  });
  const { request } = responsesToChat(next, { history });
  assert.deepEqual(request.messages, [
    { role: "system", content: "Be terse." },
    { role: "user", content: "Weather in Oslo?" },
    {
      role: "assistant",
      content: "",
      reasoning_content: "Use the tool.",
      tool_calls: [{
        id: "call_a",
        type: "function",
        function: { name: "get_weather", arguments: '{"city":"Oslo"}' },
      }],
    },
    { role: "tool", tool_call_id: "call_a", content: "12 °C" },
    { role: "assistant", content: "12 °C in Oslo." },
    { role: "user", content: "And Bergen?" },
  ]);
});
