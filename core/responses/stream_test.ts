import assert from "node:assert/strict";
import OpenAI from "openai";
import type { ChatCompletion } from "../openai/chat.ts";
import { createSseParserStream } from "../sse.ts";
import { chatToResponse, type IdSource } from "./from_chat.ts";
import { parseResponsesRequest } from "./request.ts";
import {
  type OutputItem,
  type ResponseObject,
  type ResponsesStreamEvent,
  ResponsesStreamEventSchema,
} from "./response.ts";
import {
  encodeResponsesEvents,
  responsesSseFromOpenAI,
  ResponsesStreamTranslator,
} from "./stream.ts";

// ---------------------------------------------------------------------------------------
// Fixtures: upstream SSE bodies as an OpenAI-compatible server (llama.cpp, vLLM) sends them.

/** One chunk line as llama.cpp's server writes it (its field order, its fingerprint). */
function line(delta: Record<string, unknown>, finish: string | null = null): string {
  return `data: ${
    JSON.stringify({
      choices: [{ finish_reason: finish, index: 0, delta }],
      created: 1735689600,
      id: "chatcmpl-Yk2rTq9",
      model: "Qwen3-8B-Q4_K_M.gguf",
      system_fingerprint: "b5000-f0d4e1a2",
      object: "chat.completion.chunk",
    })
  }\n\n`;
}

function usageLine(usage: Record<string, unknown>): string {
  return `data: ${
    JSON.stringify({
      choices: [],
      created: 1735689600,
      id: "chatcmpl-Yk2rTq9",
      model: "Qwen3-8B-Q4_K_M.gguf",
      object: "chat.completion.chunk",
      usage,
    })
  }\n\n`;
}

const DONE = "data: [DONE]\n\n";
const USAGE = usageLine({ completion_tokens: 7, prompt_tokens: 21, total_tokens: 28 });

/** An upstream body delivering `parts` as separate network chunks. */
function upstream(parts: string[]): ReadableStream<Uint8Array> {
  const enc = new TextEncoder();
  return ReadableStream.from(parts.map((p) => enc.encode(p)));
}

/** An upstream body that delivers `parts` and then fails like a dropped connection. */
function failingUpstream(parts: string[], reason: string): ReadableStream<Uint8Array> {
  const enc = new TextEncoder();
  let i = 0;
  return new ReadableStream<Uint8Array>({
    pull(controller) {
      if (i < parts.length) controller.enqueue(enc.encode(parts[i++]));
      else controller.error(new Error(reason));
    },
  });
}

// ---------------------------------------------------------------------------------------
// Harness

const NOW = Date.UTC(2030, 0, 1, 12, 0, 0);

function counter(): IdSource {
  let n = 0;
  return (prefix) => `${prefix}_${++n}`;
}

function translator(body: Record<string, unknown> = {}) {
  return new ResponsesStreamTranslator({
    request: parseResponsesRequest({ model: "qwen3", input: "hi", stream: true, ...body }),
    id: "resp_test",
    now: () => NOW,
    newId: counter(),
  });
}

/** Runs the translation and returns the events it wrote (parsed back from SSE), checked. */
async function events(
  body: ReadableStream<Uint8Array>,
  t = translator(),
): Promise<ResponsesStreamEvent[]> {
  const out: ResponsesStreamEvent[] = [];
  const sse = responsesSseFromOpenAI(body, t).pipeThrough(createSseParserStream());
  for await (const msg of sse) {
    assert.equal(msg.type, "event", "no [DONE] sentinel: the Responses API sends none");
    if (msg.type !== "event") continue;
    const ev = ResponsesStreamEventSchema.parse(JSON.parse(msg.data));
    assert.equal(msg.event, ev.type, "the SSE event name is the event type");
    out.push(ev);
  }
  const final = assertProtocol(out);
  assert.deepEqual(t.response, final, "the translator keeps the terminal Response");
  return out;
}

type Open = {
  index: number;
  item: OutputItem;
  /** The open message part or reasoning summary part, by index. */
  part: number | null;
};

/**
 * Checks the Responses streaming protocol: numbered from 0 without gaps; created and
 * in_progress first; items added with consecutive output indices, one open at a time;
 * parts added in order, one open at a time; every delta inside the open item and part of
 * its kind, naming them by item_id / output_index / content_index / summary_index; every
 * `.done` repeating what the deltas built; exactly one terminal event, last, whose Response
 * holds exactly the items that were streamed. Returns the terminal Response.
 */
function assertProtocol(evs: ResponsesStreamEvent[]): ResponseObject {
  evs.forEach((e, i) => assert.equal(e.sequence_number, i, `sequence_number of event ${i}`));
  const [created, inProgress] = evs;
  assert.equal(created?.type, "response.created", "first event");
  assert.equal(inProgress?.type, "response.in_progress", "second event");
  if (created.type !== "response.created") throw new Error("unreachable");
  assert.equal(created.response.status, "in_progress");
  assert.deepEqual(created.response.output, []);
  const id = created.response.id;

  const items: OutputItem[] = [];
  const ids = new Set<string>();
  const state: { open: Open | null } = { open: null };
  const inItem = (ev: { item_id: string; output_index: number }, type: OutputItem["type"]) => {
    assert.ok(state.open, `${JSON.stringify(ev)} outside an open item`);
    assert.equal(
      state.open.item.type,
      type,
      `${JSON.stringify(ev)} in a ${state.open.item.type} item`,
    );
    assert.equal(ev.output_index, state.open.index, "output_index of the open item");
    assert.equal(ev.item_id, state.open.item.id, "item_id of the open item");
    return state.open;
  };
  const message = (ev: { item_id: string; output_index: number; content_index: number }) => {
    const o = inItem(ev, "message");
    assert.equal(ev.content_index, o.part, "content_index of the open part");
    return (o.item as Extract<OutputItem, { type: "message" }>).content[o.part!];
  };
  const summary = (ev: { item_id: string; output_index: number; summary_index: number }) => {
    const o = inItem(ev, "reasoning");
    assert.equal(ev.summary_index, o.part, "summary_index of the open part");
    return (o.item as Extract<OutputItem, { type: "reasoning" }>).summary[o.part!];
  };

  for (const ev of evs.slice(2, -1)) {
    switch (ev.type) {
      case "response.output_item.added": {
        assert.equal(state.open, null, "an item is added while another is open");
        assert.equal(ev.output_index, items.length, "output indices are consecutive");
        assert.equal(ev.item.status, "in_progress");
        assert.ok(!ids.has(ev.item.id), "item ids are unique");
        ids.add(ev.item.id);
        const prefix = { message: "msg_", reasoning: "rs_", function_call: "fc_" }[ev.item.type];
        assert.ok(ev.item.id.startsWith(prefix), `${ev.item.type} id ${ev.item.id}`);
        if (ev.item.type === "message") assert.deepEqual(ev.item.content, []);
        if (ev.item.type === "reasoning") assert.deepEqual(ev.item.summary, []);
        if (ev.item.type === "function_call") {
          assert.equal(ev.item.arguments, "");
          assert.ok(ev.item.call_id && ev.item.name, "a call is added with its id and name");
        }
        const item = structuredClone(ev.item);
        items.push(item);
        state.open = { index: ev.output_index, item, part: null };
        break;
      }
      case "response.content_part.added": {
        const o = inItem(ev, "message");
        assert.equal(o.part, null, "a part is added while another is open");
        const content = (o.item as Extract<OutputItem, { type: "message" }>).content;
        assert.equal(ev.content_index, content.length, "content indices are consecutive");
        assert.deepEqual(
          ev.part,
          ev.part.type === "output_text"
            ? { type: "output_text", text: "", annotations: [] }
            : { type: "refusal", refusal: "" },
        );
        content.push(structuredClone(ev.part));
        o.part = ev.content_index;
        break;
      }
      case "response.output_text.delta": {
        const part = message(ev);
        assert.equal(part.type, "output_text");
        if (part.type === "output_text") part.text += ev.delta;
        break;
      }
      case "response.output_text.done": {
        const part = message(ev);
        assert.equal(part.type === "output_text" && part.text, ev.text, "done repeats the deltas");
        break;
      }
      case "response.refusal.delta": {
        const part = message(ev);
        assert.equal(part.type, "refusal");
        if (part.type === "refusal") part.refusal += ev.delta;
        break;
      }
      case "response.refusal.done": {
        const part = message(ev);
        assert.equal(part.type === "refusal" && part.refusal, ev.refusal);
        break;
      }
      case "response.content_part.done": {
        assert.deepEqual(ev.part, message(ev), "content_part.done repeats the part");
        state.open!.part = null;
        break;
      }
      case "response.reasoning_summary_part.added": {
        const o = inItem(ev, "reasoning");
        assert.equal(o.part, null, "a summary part is added while another is open");
        const parts = (o.item as Extract<OutputItem, { type: "reasoning" }>).summary;
        assert.equal(ev.summary_index, parts.length, "summary indices are consecutive");
        assert.deepEqual(ev.part, { type: "summary_text", text: "" });
        parts.push(structuredClone(ev.part));
        o.part = ev.summary_index;
        break;
      }
      case "response.reasoning_summary_text.delta":
        summary(ev).text += ev.delta;
        break;
      case "response.reasoning_summary_text.done":
        assert.equal(summary(ev).text, ev.text, "done repeats the deltas");
        break;
      case "response.reasoning_summary_part.done":
        assert.deepEqual(ev.part, summary(ev), "summary_part.done repeats the part");
        state.open!.part = null;
        break;
      case "response.function_call_arguments.delta": {
        const o = inItem(ev, "function_call");
        (o.item as Extract<OutputItem, { type: "function_call" }>).arguments += ev.delta;
        break;
      }
      case "response.function_call_arguments.done": {
        const o = inItem(ev, "function_call");
        assert.equal(
          (o.item as Extract<OutputItem, { type: "function_call" }>).arguments,
          ev.arguments,
          "done repeats the deltas",
        );
        break;
      }
      case "response.output_item.done": {
        assert.ok(state.open, "output_item.done without an open item");
        assert.equal(ev.output_index, state.open.index);
        assert.equal(state.open.part, null, "an item is done while a part is open");
        assert.ok(ev.item.status === "completed" || ev.item.status === "incomplete");
        assert.deepEqual(
          ev.item,
          { ...state.open.item, status: ev.item.status },
          "done repeats the item",
        );
        items[state.open.index] = structuredClone(ev.item);
        state.open = null;
        break;
      }
      default:
        assert.fail(`${ev.type} before the end of the stream`);
    }
  }

  const end = evs.at(-1)!;
  assert.ok(
    end.type === "response.completed" || end.type === "response.incomplete" ||
      end.type === "response.failed",
    `the last event is terminal, got ${end.type}`,
  );
  const r = end.response;
  assert.equal(r.id, id, "one response id throughout");
  assert.equal(r.status, end.type.slice("response.".length));
  if (end.type === "response.failed") {
    assert.ok(r.error?.code && r.error.message, "a failed response says why");
    assert.deepEqual(r.output.map((i) => i.id), items.map((i) => i.id));
    return r;
  }
  assert.equal(state.open, null, "the response ends with an item open");
  assert.equal(r.error, null);
  assert.deepEqual(r.output, items, "the terminal Response holds the streamed items");
  if (end.type === "response.incomplete") assert.ok(r.incomplete_details?.reason);
  else assert.equal(r.incomplete_details, null);
  return r;
}

/** Feeds `body` to the official SDK's stream accumulator, as a client would receive it. */
function sdkStream(body: ReadableStream<Uint8Array>) {
  const client = new OpenAI({
    apiKey: "k",
    baseURL: "http://cortex.invalid/v1",
    maxRetries: 0,
    fetch: () =>
      Promise.resolve(new Response(body, { headers: { "content-type": "text/event-stream" } })),
  });
  return client.responses.stream({ model: "qwen3", input: "hi" });
}

function sdkFinal(parts: string[], t = translator()) {
  return sdkStream(responsesSseFromOpenAI(upstream(parts), t)).finalResponse();
}

const types = (evs: ResponsesStreamEvent[]) => evs.map((e) => e.type.replace(/^response\./, ""));

// ---------------------------------------------------------------------------------------
// Recorded sequences

const PLAIN = [
  line({ role: "assistant", content: null }),
  line({ content: "Hel" }),
  line({ content: "lo" }),
  line({ content: ", world." }),
  line({}, "stop"),
  USAGE,
  DONE,
];

Deno.test("text: the exact event sequence", async () => {
  const evs = await events(upstream(PLAIN));
  assert.deepEqual(types(evs), [
    "created",
    "in_progress",
    "output_item.added",
    "content_part.added",
    "output_text.delta",
    "output_text.delta",
    "output_text.delta",
    "output_text.done",
    "content_part.done",
    "output_item.done",
    "completed",
  ]);
  assert.deepEqual(evs[2], {
    type: "response.output_item.added",
    sequence_number: 2,
    output_index: 0,
    item: { type: "message", id: "msg_1", status: "in_progress", role: "assistant", content: [] },
  });
  assert.deepEqual(evs[4], {
    type: "response.output_text.delta",
    sequence_number: 4,
    item_id: "msg_1",
    output_index: 0,
    content_index: 0,
    delta: "Hel",
    logprobs: [],
  });
  const end = evs.at(-1)!;
  assert.ok(end.type === "response.completed");
  assert.equal(end.response.completed_at, NOW / 1000);
  assert.deepEqual(end.response.usage, {
    input_tokens: 21,
    input_tokens_details: { cached_tokens: 0 },
    output_tokens: 7,
    output_tokens_details: { reasoning_tokens: 0 },
    total_tokens: 28,
  });
});

Deno.test("text: the SDK accumulates the response", async () => {
  const r = await sdkFinal(PLAIN);
  assert.equal(r.id, "resp_test");
  assert.equal(r.status, "completed");
  assert.equal(r.output_text, "Hello, world.");
  assert.equal(r.output.length, 1);
  assert.equal(r.usage?.input_tokens, 21);
  assert.equal(r.usage?.output_tokens, 7);
});

Deno.test("text: the SDK's delta events carry the growing snapshot", async () => {
  const stream = sdkStream(responsesSseFromOpenAI(upstream(PLAIN), translator()));
  const snapshots: string[] = [];
  stream.on("response.output_text.delta", (e) => snapshots.push(e.snapshot));
  await stream.finalResponse();
  assert.deepEqual(snapshots, ["Hel", "Hello", "Hello, world."]);
});

const REASONING = [
  line({ role: "assistant", content: null }),
  line({ reasoning_content: "The user" }),
  line({ reasoning_content: " greets me." }),
  line({ content: "Hi" }),
  line({ content: " there!" }),
  line({}, "stop"),
  usageLine({
    completion_tokens: 9,
    prompt_tokens: 30,
    total_tokens: 39,
    completion_tokens_details: { reasoning_tokens: 5 },
    prompt_tokens_details: { cached_tokens: 24 },
  }),
  DONE,
];

Deno.test("reasoning then text: a reasoning item with summary events, then a message", async () => {
  const evs = await events(upstream(REASONING), translator({ reasoning: { effort: "medium" } }));
  assert.deepEqual(types(evs), [
    "created",
    "in_progress",
    "output_item.added",
    "reasoning_summary_part.added",
    "reasoning_summary_text.delta",
    "reasoning_summary_text.delta",
    "reasoning_summary_text.done",
    "reasoning_summary_part.done",
    "output_item.done",
    "output_item.added",
    "content_part.added",
    "output_text.delta",
    "output_text.delta",
    "output_text.done",
    "content_part.done",
    "output_item.done",
    "completed",
  ]);
  assert.deepEqual(evs[4], {
    type: "response.reasoning_summary_text.delta",
    sequence_number: 4,
    item_id: "rs_1",
    output_index: 0,
    summary_index: 0,
    delta: "The user",
  });
  const r = await sdkFinal(REASONING);
  assert.deepEqual(r.output[0], {
    type: "reasoning",
    id: "rs_1",
    summary: [{ type: "summary_text", text: "The user greets me." }],
    status: "completed",
  });
  assert.equal(r.output_text, "Hi there!");
  assert.equal(r.usage?.output_tokens_details.reasoning_tokens, 5);
  assert.equal(r.usage?.input_tokens_details.cached_tokens, 24);
});

const ARGS = '{"path": "src/main.ts", "pattern": "WARN\\\\(", "flags": ["-n", "-i"], "limit": 50}';

/** A function call whose arguments arrive in `n`-character pieces, after some text. */
function toolCallSequence(n: number): string[] {
  const pieces: string[] = [];
  for (let i = 0; i < ARGS.length; i += n) pieces.push(ARGS.slice(i, i + n));
  return [
    line({ role: "assistant", content: null }),
    line({ content: "Searching." }),
    line({
      tool_calls: [{
        index: 0,
        id: "call_q8Zr",
        type: "function",
        function: { name: "grep", arguments: "" },
      }],
    }),
    ...pieces.map((p) => line({ tool_calls: [{ index: 0, function: { arguments: p } }] })),
    line({}, "tool_calls"),
    USAGE,
    DONE,
  ];
}

Deno.test("a function call whose arguments arrive in many pieces", async () => {
  const seq = toolCallSequence(3);
  const evs = await events(upstream(seq));
  const deltas = evs.filter((e) => e.type === "response.function_call_arguments.delta");
  assert.equal(deltas.length, Math.ceil(ARGS.length / 3));
  const added = evs.filter((e) => e.type === "response.output_item.added");
  assert.deepEqual(added[1], {
    type: "response.output_item.added",
    sequence_number: 8,
    output_index: 1,
    item: {
      type: "function_call",
      id: "fc_2",
      call_id: "call_q8Zr",
      name: "grep",
      arguments: "",
      status: "in_progress",
    },
  });
  const done = evs.find((e) => e.type === "response.function_call_arguments.done");
  assert.deepEqual(done, {
    type: "response.function_call_arguments.done",
    sequence_number: evs.indexOf(done!),
    item_id: "fc_2",
    output_index: 1,
    arguments: ARGS,
  });

  const r = await sdkFinal(seq);
  assert.equal(r.status, "completed");
  assert.equal(r.output_text, "Searching.");
  const call = r.output[1];
  assert.ok(call.type === "function_call");
  assert.equal(call.call_id, "call_q8Zr");
  assert.equal(call.name, "grep");
  assert.deepEqual(JSON.parse(call.arguments), JSON.parse(ARGS));
});

const PARALLEL = [
  line({ role: "assistant", content: null }),
  line({
    tool_calls: [{
      index: 0,
      id: "call_a",
      type: "function",
      function: { name: "get_weather", arguments: "" },
    }],
  }),
  line({ tool_calls: [{ index: 0, function: { arguments: '{"city":' } }] }),
  line({ tool_calls: [{ index: 0, function: { arguments: '"Oslo"}' } }] }),
  line({
    tool_calls: [{
      index: 1,
      id: "call_b",
      type: "function",
      function: { name: "get_weather", arguments: "" },
    }],
  }),
  line({ tool_calls: [{ index: 1, function: { arguments: '{"city":"Ber' } }] }),
  line({ tool_calls: [{ index: 1, function: { arguments: 'gen"}' } }] }),
  line({}, "tool_calls"),
  USAGE,
  DONE,
];

Deno.test("two parallel calls become two function_call items", async () => {
  const evs = await events(upstream(PARALLEL));
  assert.deepEqual(
    evs.filter((e) => e.type === "response.output_item.done").map((e) =>
      e.type === "response.output_item.done" && [e.output_index, e.item.id]
    ),
    [[0, "fc_1"], [1, "fc_2"]],
  );
  const r = await sdkFinal(PARALLEL);
  assert.deepEqual(
    r.output.map((i) => i.type === "function_call" && [i.call_id, i.name, JSON.parse(i.arguments)]),
    [
      ["call_a", "get_weather", { city: "Oslo" }],
      ["call_b", "get_weather", { city: "Bergen" }],
    ],
  );
});

const CUT_OFF = [
  line({ reasoning_content: "Short." }),
  line({ content: "a long" }),
  line({ content: " answ" }),
  line({}, "length"),
  USAGE,
  DONE,
];

Deno.test("max_output_tokens cut-off: response.incomplete, the cut item incomplete", async () => {
  const evs = await events(upstream(CUT_OFF), translator({ max_output_tokens: 16 }));
  const end = evs.at(-1)!;
  assert.equal(end.type, "response.incomplete");
  assert.ok(end.type === "response.incomplete");
  assert.deepEqual(end.response.incomplete_details, { reason: "max_output_tokens" });
  assert.equal(end.response.completed_at, null);
  assert.equal(end.response.max_output_tokens, 16);
  assert.deepEqual(end.response.output.map((i) => i.status), ["completed", "incomplete"]);

  const r = await sdkFinal(CUT_OFF);
  assert.equal(r.status, "incomplete");
  assert.equal(r.incomplete_details?.reason, "max_output_tokens");
  assert.equal(r.output_text, "a long answ");
});

Deno.test("upstream connection failure mid-stream: response.failed with the reason", async () => {
  const parts = [line({ content: "Partial" }), line({ content: " answer" })];
  const evs = await events(failingUpstream(parts, "connection reset by peer"));
  const end = evs.at(-1)!;
  assert.ok(end.type === "response.failed");
  assert.deepEqual(end.response.error, {
    code: "server_error",
    message: "upstream stream failed: connection reset by peer",
  });
  // The partial message is reported as it stood, marked incomplete, without more item events.
  assert.deepEqual(end.response.output, [{
    type: "message",
    id: "msg_1",
    status: "incomplete",
    role: "assistant",
    content: [{ type: "output_text", text: "Partial answer", annotations: [] }],
  }]);
  assert.equal(types(evs).filter((t) => t === "output_item.done").length, 0);

  const stream = sdkStream(
    responsesSseFromOpenAI(failingUpstream(parts, "connection reset by peer"), translator()),
  );
  const failed: string[] = [];
  stream.on("response.failed", (e) => failed.push(e.response.error?.message ?? ""));
  const r = await stream.finalResponse();
  assert.equal(r.status, "failed");
  assert.equal(r.error?.message, "upstream stream failed: connection reset by peer");
  assert.equal(r.output_text, "Partial answer");
  assert.deepEqual(failed, ["upstream stream failed: connection reset by peer"]);
});

Deno.test("an error the upstream reports in its stream ends in response.failed", async () => {
  const seq = [
    line({ content: "Par" }),
    `data: ${
      JSON.stringify({
        error: { message: "node is overloaded", type: "overloaded_error", code: 503 },
      })
    }\n\n`,
  ];
  const evs = await events(upstream(seq));
  const end = evs.at(-1)!;
  assert.ok(end.type === "response.failed");
  assert.deepEqual(end.response.error, {
    code: "rate_limit_exceeded",
    message: "node is overloaded",
  });
  const r = await sdkFinal(seq);
  assert.equal(r.status, "failed");
  assert.equal(r.error?.code, "rate_limit_exceeded");
});

Deno.test("fail() before any upstream output still yields a well-formed failed response", async () => {
  const t = translator();
  const evs = [...t.start(), ...t.fail("no node could load the model", "server_error")];
  assertProtocol(evs);
  assert.deepEqual(types(evs), ["created", "in_progress", "failed"]);
  assert.deepEqual(t.fail("again"), [], "nothing after the end");
  const r = await sdkStream(upstream([new TextDecoder().decode(encodeResponsesEvents(evs))]))
    .finalResponse();
  assert.equal(r.status, "failed");
  assert.equal(r.error?.message, "no node could load the model");
});

Deno.test("a stream that ends without finish_reason fails; a complete one without [DONE] is fine", async () => {
  const cut = await events(upstream([line({ content: "Half" })]));
  const end = cut.at(-1)!;
  assert.ok(end.type === "response.failed");
  assert.match(end.response.error?.message ?? "", /ended before the response was complete/);

  // Even with [DONE]: no finish_reason means the answer is not known to be whole.
  const doneEarly = await events(upstream([line({ content: "Half" }), DONE]));
  assert.equal(doneEarly.at(-1)?.type, "response.failed");

  const noDone = await events(upstream([line({ content: "Whole" }), line({}, "stop"), USAGE]));
  assert.equal(noDone.at(-1)?.type, "response.completed");
});

Deno.test("garbage from upstream fails the response, never a crash or a silent close", async () => {
  const notJson = await events(upstream([line({ content: "a" }), "data: {oops\n\n"]));
  assert.match(JSON.stringify(notJson.at(-1)), /not JSON/);
  const malformed = await events(
    upstream([
      `data: ${
        JSON.stringify({ id: "x", object: "chat.completion.chunk", created: 1, model: "m" })
      }\n\n`,
    ]),
  );
  assert.match(JSON.stringify(malformed.at(-1)), /malformed chunk \(at choices\)/);
  const afterFinish = await events(
    upstream([line({ content: "a" }), line({}, "stop"), line({ content: "more" })]),
  );
  assert.match(JSON.stringify(afterFinish.at(-1)), /output after its finish_reason/);
});

Deno.test("a refusal streams as a refusal part after the text part", async () => {
  const seq = [
    line({ content: "Well," }),
    line({ refusal: "I can't" }),
    line({ refusal: " help." }),
    line({}, "stop"),
    DONE,
  ];
  const evs = await events(upstream(seq));
  assert.deepEqual(types(evs).slice(2, -1), [
    "output_item.added",
    "content_part.added",
    "output_text.delta",
    "output_text.done",
    "content_part.done",
    "content_part.added",
    "refusal.delta",
    "refusal.delta",
    "refusal.done",
    "content_part.done",
    "output_item.done",
  ]);
  const r = await sdkFinal(seq);
  const msg = r.output[0];
  assert.ok(msg.type === "message");
  const part = msg.content.at(-1);
  assert.equal(part?.type === "refusal" && part.refusal, "I can't help.");
  assert.equal(r.usage, null, "no usage upstream: none invented");
});

Deno.test("function arguments before the name are held until the item opens", () => {
  const t = translator();
  const chunk = (tool: Record<string, unknown>, finish: "tool_calls" | null = null) => ({
    id: "c",
    object: "chat.completion.chunk" as const,
    created: 1,
    model: "m",
    choices: [{ index: 0, delta: { tool_calls: [{ index: 0, ...tool }] }, finish_reason: finish }],
  });
  const first = t.push(chunk({ id: "call_1", function: { arguments: '{"a"' } }));
  assert.deepEqual(types(first), ["created", "in_progress"]);
  const second = t.push(chunk({ function: { name: "f", arguments: ":1}" } }));
  assert.deepEqual(second, [
    {
      type: "response.output_item.added",
      sequence_number: 2,
      output_index: 0,
      item: {
        type: "function_call",
        id: "fc_1",
        call_id: "call_1",
        name: "f",
        arguments: "",
        status: "in_progress",
      },
    },
    {
      type: "response.function_call_arguments.delta",
      sequence_number: 3,
      item_id: "fc_1",
      output_index: 0,
      delta: '{"a":1}',
    },
  ]);
  const all = [...first, ...second, ...t.push(chunk({}, "tool_calls")), ...t.finish()];
  const r = assertProtocol(all);
  assert.equal(r.output[0].type === "function_call" && r.output[0].arguments, '{"a":1}');
});

Deno.test("arguments for a call whose item already ended fail the response", () => {
  const t = translator();
  const base = { id: "c", object: "chat.completion.chunk" as const, created: 1, model: "m" };
  const evs = [
    ...t.push({
      ...base,
      choices: [{
        index: 0,
        delta: { tool_calls: [{ index: 0, id: "a", function: { name: "f", arguments: "{" } }] },
      }],
    }),
    ...t.push({ ...base, choices: [{ index: 0, delta: { content: "interleaved text" } }] }),
    ...t.push({
      ...base,
      choices: [{ index: 0, delta: { tool_calls: [{ index: 0, function: { arguments: "}" } }] } }],
    }),
  ];
  assertProtocol(evs);
  assert.equal(evs.at(-1)?.type, "response.failed");
  assert.equal(t.ended, true);
  assert.deepEqual(t.push({ ...base, choices: [] }), []);
});

Deno.test("a call that never names its function fails at the end", () => {
  const t = translator();
  const evs = [
    ...t.push({
      id: "c",
      object: "chat.completion.chunk",
      created: 1,
      model: "m",
      choices: [{
        index: 0,
        delta: { tool_calls: [{ index: 0, function: { arguments: "{}" } }] },
        finish_reason: "tool_calls",
      }],
    }),
    ...t.finish(),
  ];
  assertProtocol(evs);
  const end = evs.at(-1)!;
  assert.ok(end.type === "response.failed");
  assert.match(end.response.error?.message ?? "", /never named its function/);
});

Deno.test("an empty answer is a completed response with no output", async () => {
  const evs = await events(
    upstream([line({ role: "assistant", content: "" }), line({}, "stop"), USAGE, DONE]),
  );
  assert.deepEqual(types(evs), ["created", "in_progress", "completed"]);
  const r = await sdkFinal([line({}, "stop"), DONE]);
  assert.deepEqual(r.output, []);
  assert.equal(r.output_text, "");
});

Deno.test("created/in_progress may go out early; the SDK ignores SSE keepalive comments", async () => {
  const t = translator();
  // The gateway's cold-load path: the response starts before upstream answers.
  const head = encodeResponsesEvents(t.start());
  const keepalive = new TextEncoder().encode(": keepalive\n\n");
  const reader = responsesSseFromOpenAI(upstream(PLAIN), t).getReader();
  const queue = [head, keepalive, keepalive];
  const joined = new ReadableStream<Uint8Array>({
    async pull(controller) {
      if (queue.length) return controller.enqueue(queue.shift()!);
      const { value, done } = await reader.read();
      if (done) controller.close();
      else controller.enqueue(value);
    },
  });
  const r = await sdkStream(joined).finalResponse();
  assert.equal(r.output_text, "Hello, world.");
  assert.deepEqual(t.start(), [], "response.created is sent once");
});

Deno.test("streaming and non-streaming translations give the same Response", async () => {
  const seq = toolCallSequence(5);
  const streamed = (await events(upstream([
    line({ reasoning_content: "Look for warnings." }),
    ...seq,
  ]))).at(-1)!;
  assert.ok(streamed.type === "response.completed");
  const completion: ChatCompletion = {
    id: "chatcmpl-Yk2rTq9",
    object: "chat.completion",
    created: 1735689600,
    model: "Qwen3-8B-Q4_K_M.gguf",
    choices: [{
      index: 0,
      message: {
        role: "assistant",
        reasoning_content: "Look for warnings.",
        content: "Searching.",
        tool_calls: [{
          id: "call_q8Zr",
          type: "function",
          function: { name: "grep", arguments: ARGS },
        }],
      },
      finish_reason: "tool_calls",
    }],
    usage: { completion_tokens: 7, prompt_tokens: 21, total_tokens: 28 },
  };
  const whole = chatToResponse(completion, {
    request: parseResponsesRequest({ model: "qwen3", input: "hi", stream: true }),
    id: "resp_test",
    now: () => NOW,
    newId: counter(),
  });
  assert.deepEqual(streamed.response, whole);
});

Deno.test("cancelling the Responses stream cancels the upstream", async () => {
  let cancelled: unknown = null;
  const enc = new TextEncoder();
  const source = new ReadableStream<Uint8Array>({
    pull(controller) {
      controller.enqueue(enc.encode(line({ content: "tick" })));
    },
    cancel(reason) {
      cancelled = reason ?? "cancelled";
    },
  });
  const reader = responsesSseFromOpenAI(source, translator()).getReader();
  await reader.read();
  await reader.cancel("client went away");
  assert.equal(cancelled, "client went away");
});
