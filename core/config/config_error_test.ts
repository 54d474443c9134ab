import assert from "node:assert/strict";
import { ConfigError, formatConfigError, issueMessage, makeIssue } from "./config_error.ts";

const issue = makeIssue({
  file: "cortex.toml",
  line: 14,
  keyPath: "eviction.strategy",
  expected: 'one of "lru", "priority"',
  found: '"fifo"',
});

Deno.test("issueMessage follows file:line: key: expected X, found Y", () => {
  assert.equal(
    issue.message,
    'cortex.toml:14: eviction.strategy: expected one of "lru", "priority", found "fifo"',
  );
  assert.equal(
    issueMessage({
      file: "f",
      keyPath: "a",
      envVar: "X_A",
      expected: "e",
      found: "g",
      hint: "did you mean b?",
    }),
    "f: a (set by X_A): expected e, found g; did you mean b?",
  );
  assert.equal(
    issueMessage({ file: "f", keyPath: "", expected: "e", found: "g" }),
    "f: expected e, found g",
  );
});

Deno.test("ConfigError mirrors its first issue and lists them all", () => {
  const second = makeIssue({ file: "cortex.toml", keyPath: "x", expected: "e", found: "f" });
  const e = new ConfigError([issue, second]);
  assert.equal(e.file, "cortex.toml");
  assert.equal(e.line, 14);
  assert.equal(e.keyPath, "eviction.strategy");
  assert.equal(e.expected, 'one of "lru", "priority"');
  assert.equal(e.found, '"fifo"');
  assert.equal(e.message, `${issue.message}\n${second.message}`);
  assert.throws(() => new ConfigError([]), TypeError);
});

Deno.test("formatConfigError renders one or many issues and other errors", () => {
  assert.equal(formatConfigError(new ConfigError([issue])), `config error: ${issue.message}`);
  const two = new ConfigError([
    issue,
    makeIssue({ file: "models.toml", keyPath: "x", expected: "e", found: "f" }),
  ]);
  assert.equal(
    formatConfigError(two),
    `2 config errors in cortex.toml, models.toml:\n  - ${issue.message}\n  - models.toml: x: expected e, found f`,
  );
  const syntax = makeIssue({
    file: "a.toml",
    line: 2,
    column: 3,
    keyPath: "",
    expected: "valid TOML",
    found: "bad",
    excerpt: "2:  x =\n      ^\n",
    message: "a.toml:2:3: invalid TOML: bad",
  });
  assert.equal(
    formatConfigError(new ConfigError([syntax])),
    "config error: a.toml:2:3: invalid TOML: bad\n    2:  x =\n          ^",
  );
  assert.equal(formatConfigError(new Error("boom")), "config error: boom");
  assert.equal(formatConfigError("text"), "config error: text");
});
