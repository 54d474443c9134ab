/**
 * Test support: JSON Schemas the converter must handle, each with documents the grammar must
 * accept (valid, and written in the order and form the grammar generates) and documents it
 * must reject (invalid under the schema). Reusable by anyone who runs the grammars through
 * the real llama.cpp sampler and validates the outputs with ajv (`makeValidator`).
 */
import type { Draft } from "./validator.ts";

export interface GrammarTestSchema {
  name: string;
  draft: Draft;
  schema: Record<string, unknown> | boolean;
  /** Valid documents inside the grammar's subset (property order as declared). */
  valid: unknown[];
  /** Documents the schema rejects. */
  invalid: unknown[];
}

export const GRAMMAR_TEST_SCHEMAS: GrammarTestSchema[] = [
  {
    name: "flat object with required, optional and bounded integer",
    draft: "2020-12",
    schema: {
      type: "object",
      properties: {
        name: { type: "string", minLength: 1, maxLength: 12 },
        age: { type: "integer", minimum: 0, maximum: 150 },
        email: { type: "string", format: "email" },
      },
      required: ["name", "age"],
      additionalProperties: false,
    },
    valid: [
      { name: "Ada", age: 36 },
      { name: "Grace Hopper", age: 150, email: "grace@navy.mil" },
      { name: "x", age: 0 },
    ],
    invalid: [
      { name: "Ada" },
      { name: "", age: 3 },
      { name: "Ada", age: 151 },
      { name: "Ada", age: -1 },
      { name: "Ada", age: 3.5 },
      { name: "Ada", age: 3, email: "not-an-email" },
      { name: "Ada", age: 3, extra: true },
      { name: "Thirteen chrs", age: 3 },
    ],
  },
  {
    name: "nested objects and arrays",
    draft: "2020-12",
    schema: {
      type: "object",
      properties: {
        user: {
          type: "object",
          properties: {
            id: { type: "string", format: "uuid" },
            profile: {
              type: "object",
              properties: {
                displayName: { type: "string", maxLength: 20 },
                tags: { type: "array", items: { type: "string" }, maxItems: 3 },
              },
              required: ["displayName"],
            },
          },
          required: ["id", "profile"],
        },
        active: { type: "boolean" },
      },
      required: ["user"],
    },
    valid: [
      {
        user: {
          id: "123e4567-e89b-12d3-a456-426614174000",
          profile: { displayName: "neo", tags: ["a", "b"] },
        },
      },
      {
        user: { id: "00000000-0000-0000-0000-000000000000", profile: { displayName: "" } },
        active: false,
      },
    ],
    invalid: [
      { user: { id: "nope", profile: { displayName: "x" } } },
      { user: { id: "123e4567-e89b-12d3-a456-426614174000", profile: {} } },
      {
        user: {
          id: "123e4567-e89b-12d3-a456-426614174000",
          profile: { displayName: "x", tags: ["1", "2", "3", "4"] },
        },
      },
      { active: true },
    ],
  },
  {
    name: "array with minItems and maxItems",
    draft: "2020-12",
    schema: { type: "array", items: { type: "integer" }, minItems: 2, maxItems: 4 },
    valid: [[1, 2], [-5, 0, 7], [1, 2, 3, 4]],
    invalid: [[], [1], [1, 2, 3, 4, 5], [1, "2"], [1.5, 2]],
  },
  {
    name: "enum and const",
    draft: "2020-12",
    schema: {
      type: "object",
      properties: {
        kind: { const: "event" },
        level: { type: "string", enum: ["low", "mid", "high"] },
        code: { enum: [1, 2.5, null, true, "x y", { a: [1] }] },
      },
      required: ["kind", "level", "code"],
      additionalProperties: false,
    },
    valid: [
      { kind: "event", level: "low", code: 1 },
      { kind: "event", level: "high", code: null },
      { kind: "event", level: "mid", code: { a: [1] } },
      { kind: "event", level: "mid", code: "x y" },
    ],
    invalid: [
      { kind: "other", level: "low", code: 1 },
      { kind: "event", level: "LOW", code: 1 },
      { kind: "event", level: "low", code: 2 },
      { kind: "event", level: "low", code: false },
    ],
  },
  {
    name: "recursive $defs (a tree)",
    draft: "2020-12",
    schema: {
      $defs: {
        node: {
          type: "object",
          properties: {
            value: { type: "integer" },
            children: { type: "array", items: { $ref: "#/$defs/node" } },
          },
          required: ["value"],
          additionalProperties: false,
        },
      },
      $ref: "#/$defs/node",
    },
    valid: [
      { value: 1 },
      { value: 1, children: [] },
      { value: 1, children: [{ value: 2, children: [{ value: 3 }] }, { value: 4 }] },
    ],
    invalid: [
      {},
      { value: 1, children: [{}] },
      { value: 1, children: [{ value: "2" }] },
      { value: 1, children: {} },
    ],
  },
  {
    name: "draft-07 definitions, tuple items and additionalItems",
    draft: "draft-07",
    schema: {
      definitions: {
        point: {
          type: "array",
          items: [{ type: "number" }, { type: "number" }],
          additionalItems: false,
          minItems: 2,
        },
      },
      type: "object",
      properties: {
        path: { type: "array", items: { $ref: "#/definitions/point" }, minItems: 1 },
        closed: { type: "boolean" },
      },
      required: ["path"],
      additionalProperties: false,
    },
    valid: [
      { path: [[0, 0]] },
      { path: [[0, 1.5], [-2, 3e2]], closed: true },
    ],
    invalid: [
      { path: [] },
      { path: [[0]] },
      { path: [[0, 1, 2]] },
      { path: [["0", 1]] },
    ],
  },
  {
    name: "anyOf of string, bounded number and boolean",
    draft: "2020-12",
    schema: {
      type: "object",
      properties: {
        v: {
          anyOf: [
            { type: "string", maxLength: 5 },
            { type: "number", minimum: 0, maximum: 10 },
            { type: "boolean" },
          ],
        },
      },
      required: ["v"],
      additionalProperties: false,
    },
    valid: [{ v: "short" }, { v: 0 }, { v: 10 }, { v: 9.75 }, { v: true }],
    invalid: [{ v: "too long" }, { v: 10.5 }, { v: -1 }, { v: null }, { v: [] }],
  },
  {
    name: "oneOf discriminated union",
    draft: "2020-12",
    schema: {
      oneOf: [
        {
          type: "object",
          properties: {
            kind: { const: "circle" },
            radius: { type: "number", exclusiveMinimum: 0 },
          },
          required: ["kind", "radius"],
          additionalProperties: false,
        },
        {
          type: "object",
          properties: {
            kind: { const: "square" },
            side: { type: "integer", minimum: 1 },
          },
          required: ["kind", "side"],
          additionalProperties: false,
        },
      ],
    },
    valid: [
      { kind: "circle", radius: 0.5 },
      { kind: "circle", radius: 12 },
      { kind: "square", side: 3 },
    ],
    invalid: [
      { kind: "circle", radius: 0 },
      { kind: "square", side: 0 },
      { kind: "circle", side: 3 },
      { kind: "triangle", side: 3 },
    ],
  },
  {
    name: "optional properties keep their order",
    draft: "2020-12",
    schema: {
      type: "object",
      properties: {
        a: { type: "integer" },
        b: { type: "string" },
        c: { type: "boolean" },
        d: { type: "null" },
        e: { type: "integer" },
      },
      required: ["c"],
      additionalProperties: false,
    },
    valid: [
      { c: true },
      { a: 1, c: false },
      { b: "x", c: true, e: 5 },
      { a: 1, b: "", c: true, d: null, e: 0 },
      { c: true, d: null },
    ],
    invalid: [{}, { a: 1 }, { a: 1, c: "true" }, { c: true, f: 1 }],
  },
  {
    name: "string formats",
    draft: "2020-12",
    schema: {
      type: "object",
      properties: {
        day: { type: "string", format: "date" },
        at: { type: "string", format: "time" },
        when: { type: "string", format: "date-time" },
        id: { type: "string", format: "uuid" },
        ip: { type: "string", format: "ipv4" },
        link: { type: "string", format: "uri" },
      },
      required: ["day", "at", "when", "id", "ip", "link"],
      additionalProperties: false,
    },
    valid: [
      {
        day: "2024-02-29",
        at: "23:59:59Z",
        when: "2000-02-29T12:30:00.123+05:30",
        id: "A987FBC9-4BED-3078-CF07-9141BA07C9F3",
        ip: "192.168.0.255",
        link: "https://example.com/a/b?x=1&y=%20#frag",
      },
    ],
    invalid: [
      {
        day: "2023-02-29",
        at: "23:59:59Z",
        when: "2000-02-29T12:30:00Z",
        id: "a987fbc9-4bed-3078-cf07-9141ba07c9f3",
        ip: "1.2.3.4",
        link: "https://x.io",
      },
      {
        day: "2024-04-31",
        at: "23:59:59Z",
        when: "2000-02-29T12:30:00Z",
        id: "a987fbc9-4bed-3078-cf07-9141ba07c9f3",
        ip: "1.2.3.4",
        link: "https://x.io",
      },
      {
        day: "2024-01-01",
        at: "24:00:00Z",
        when: "2000-02-29T12:30:00Z",
        id: "a987fbc9-4bed-3078-cf07-9141ba07c9f3",
        ip: "1.2.3.4",
        link: "https://x.io",
      },
      {
        day: "2024-01-01",
        at: "23:00:00Z",
        when: "1900-02-29T12:30:00Z",
        id: "a987fbc9-4bed-3078-cf07-9141ba07c9f3",
        ip: "1.2.3.4",
        link: "https://x.io",
      },
      {
        day: "2024-01-01",
        at: "23:00:00Z",
        when: "2000-02-29T12:30:00Z",
        id: "a987fbc9-4bed-3078-cf07-9141ba07c9f3",
        ip: "256.2.3.4",
        link: "https://x.io",
      },
    ],
  },
  {
    name: "nullable types three ways",
    draft: "2020-12",
    schema: {
      type: "object",
      properties: {
        a: { type: ["string", "null"] },
        b: { type: "integer", nullable: true },
        c: { anyOf: [{ type: "number" }, { type: "null" }] },
      },
      required: ["a", "b", "c"],
      additionalProperties: false,
    },
    valid: [
      { a: null, b: null, c: null },
      { a: "x", b: -3, c: 1.25 },
    ],
    invalid: [{ a: 1, b: null, c: null }, { a: null, b: 1.5, c: null }, { a: null, b: 1, c: "1" }],
  },
  {
    name: "prefixItems tuple",
    draft: "2020-12",
    schema: {
      type: "array",
      prefixItems: [{ type: "string" }, { type: "integer" }, { type: "boolean" }],
      items: false,
      minItems: 2,
    },
    valid: [["a", 1], ["a", 1, true]],
    invalid: [["a"], ["a", 1, true, 2], [1, "a"], ["a", 1, "true"]],
  },
  {
    name: "allOf merging a $ref with more properties",
    draft: "2020-12",
    schema: {
      $defs: {
        base: {
          type: "object",
          properties: { id: { type: "integer", minimum: 1 } },
          required: ["id"],
        },
      },
      allOf: [
        { $ref: "#/$defs/base" },
        {
          properties: { label: { type: "string" }, score: { type: "number" } },
          required: ["label"],
        },
      ],
    },
    valid: [{ id: 1, label: "one" }, { id: 42, label: "x", score: -0.5 }],
    invalid: [{ id: 0, label: "x" }, { id: 1 }, { label: "x" }],
  },
  {
    name: "additionalProperties schema (a map) next to a declared property",
    draft: "2020-12",
    schema: {
      type: "object",
      properties: { total: { type: "integer" } },
      required: ["total"],
      additionalProperties: { type: "integer", minimum: 0 },
    },
    valid: [{ total: 3 }, { total: 3, apples: 1, pears: 2 }, { total: 0, "": 0, totals: 5 }],
    invalid: [{ total: 3, apples: -1 }, { total: 3, apples: "1" }, { apples: 1 }],
  },
  {
    name: "patterns, anchored and not",
    draft: "2020-12",
    schema: {
      type: "object",
      properties: {
        code: { type: "string", pattern: "^[A-Z]{3}-\\d{2,4}$" },
        tag: { type: "string", pattern: "ab+c" },
        quoted: { type: "string", pattern: '^"[^"]*"$' },
      },
      required: ["code", "tag"],
      additionalProperties: false,
    },
    valid: [
      { code: "ABC-12", tag: "abc" },
      { code: "XYZ-1234", tag: "xx abbbc yy", quoted: '"hi"' },
    ],
    invalid: [
      { code: "AB-12", tag: "abc" },
      { code: "ABC-12345", tag: "abc" },
      { code: "ABC-12", tag: "ac" },
      { code: "ABC-12", tag: "abc", quoted: 'a"b"' },
    ],
  },
  {
    name: "number and integer ranges",
    draft: "2020-12",
    schema: {
      type: "object",
      properties: {
        temperature: { type: "number", minimum: 0, maximum: 2 },
        p: { type: "number", exclusiveMinimum: 0, exclusiveMaximum: 1 },
        below: { type: "integer", minimum: -10, maximum: -2 },
        big: { type: "integer", minimum: 1000, exclusiveMaximum: 123456 },
      },
      required: ["temperature", "p", "below", "big"],
      additionalProperties: false,
    },
    valid: [
      { temperature: 0, p: 0.5, below: -10, big: 1000 },
      { temperature: 2, p: 0.999, below: -2, big: 123455 },
      { temperature: 1.25, p: 0.0001, below: -7, big: 99999 },
    ],
    invalid: [
      { temperature: 2.01, p: 0.5, below: -3, big: 1000 },
      { temperature: 1, p: 0, below: -3, big: 1000 },
      { temperature: 1, p: 1, below: -3, big: 1000 },
      { temperature: 1, p: 0.5, below: -1, big: 1000 },
      { temperature: 1, p: 0.5, below: -11, big: 1000 },
      { temperature: 1, p: 0.5, below: -3, big: 123456 },
      { temperature: 1, p: 0.5, below: -3, big: 999 },
    ],
  },
  {
    name: "a coding agent's write_file arguments",
    draft: "2020-12",
    schema: {
      type: "object",
      properties: {
        path: { type: "string", description: "Where to write" },
        content: { type: "string" },
        mode: { type: "string", enum: ["overwrite", "append"], default: "overwrite" },
        line: { type: "integer", minimum: 1 },
      },
      required: ["path", "content"],
      additionalProperties: false,
      $schema: "https://json-schema.org/draft/2020-12/schema",
    },
    valid: [
      { path: "src/main.ts", content: 'console.log("hi");\n\tdone\\' },
      { path: "a", content: "", mode: "append", line: 12 },
      { path: "😀/é", content: "\u2028\u0000" },
    ],
    invalid: [
      { path: "a" },
      { path: "a", content: "", mode: "replace" },
      { path: "a", content: "", line: 0 },
    ],
  },
  {
    name: "any JSON value",
    draft: "2020-12",
    schema: {},
    valid: [null, 0, -1.5e3, "s", [], [1, [2, {}]], { a: { b: [true, false, null] } }],
    invalid: [],
  },
  {
    name: "long strings beyond llama.cpp's direct repetition limit",
    draft: "2020-12",
    schema: { type: "string", minLength: 1500, maxLength: 2550 },
    valid: ["a".repeat(1500), "b".repeat(2000), "c".repeat(2550)],
    invalid: ["a".repeat(1499), "a".repeat(2551), ""],
  },
];
