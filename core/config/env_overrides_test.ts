import assert from "node:assert/strict";
import { applyEnvOverrides, type EnvSpec, parseEnvValue } from "./env_overrides.ts";

Deno.test("parseEnvValue reads TOML values and falls back to text", () => {
  assert.equal(parseEnvValue("5"), 5);
  assert.equal(parseEnvValue("1.5"), 1.5);
  assert.equal(parseEnvValue("true"), true);
  assert.deepEqual(parseEnvValue('["a", 2]'), ["a", 2]);
  assert.deepEqual({ ...parseEnvValue("{ CPU = 2048 }") as object }, { CPU: 2048 });
  assert.equal(parseEnvValue('"quoted"'), "quoted");
  assert.equal(parseEnvValue("0.0.0.0:31313"), "0.0.0.0:31313");
  assert.equal(parseEnvValue("hello world"), "hello world");
  assert.equal(parseEnvValue(""), "");
  // A newline must not smuggle in a second key.
  assert.equal(parseEnvValue("1\nother = 2"), "1\nother = 2");
});

const SPEC: EnvSpec = {
  prefix: "APP_",
  rootKeys: ["server", "items", "budget", "level"],
  ignoreRoots: ["sibling"],
  verbatimKeysUnder: ["budget"],
};

Deno.test("applyEnvOverrides maps names to paths", () => {
  const doc: Record<string, unknown> = { server: { port: 1 }, items: [{ a: 1 }] };
  const { overrides, issues } = applyEnvOverrides(
    doc,
    {
      APP_SERVER__PORT: "2",
      APP_SERVER__MAX_CONN: "10",
      APP_ITEMS__0__A: "3",
      APP_ITEMS__1__A: "4",
      APP_BUDGET__CUDA0: "5",
      APP_LEVEL: "debug",
      APP_SIBLING__X: "ignored",
      APP_UNRELATED: "ignored",
      OTHER_SERVER__PORT: "ignored",
    },
    SPEC,
    "app.toml",
  );
  assert.deepEqual(issues, []);
  assert.deepEqual(doc, {
    server: { port: 2, max_conn: 10 },
    items: [{ a: 3 }, { a: 4 }],
    budget: { CUDA0: 5 },
    level: "debug",
  });
  const byVar = Object.fromEntries(overrides.map((o) => [o.variable, o]));
  assert.deepEqual(byVar.APP_ITEMS__1__A.path, ["items", 1, "a"]);
  assert.deepEqual(byVar.APP_ITEMS__1__A.createdPath, ["items", 1]);
  assert.deepEqual(byVar.APP_SERVER__PORT.createdPath, ["server", "port"]);
  assert.equal(byVar.APP_SERVER__PORT.raw, "2");
});

Deno.test("applyEnvOverrides applies a whole table before its keys", () => {
  const doc: Record<string, unknown> = {};
  applyEnvOverrides(
    doc,
    { APP_SERVER__PORT: "9", APP_SERVER: "{ port = 1, host = 'h' }" },
    SPEC,
    "f",
  );
  assert.deepEqual({ ...doc.server as object }, { port: 9, host: "h" });
});

Deno.test("applyEnvOverrides reports structural problems naming the variable", () => {
  const doc: Record<string, unknown> = { server: 5, items: [] };
  const { issues } = applyEnvOverrides(
    doc,
    {
      APP_SERVER__PORT: "1",
      APP_ITEMS__2__A: "1",
      APP_ITEMS__X: "1",
      APP_SERVER____PORT: "1",
      APP_LEVL: "x",
    },
    SPEC,
    "app.toml",
  );
  const byVar = Object.fromEntries(issues.map((i) => [i.envVar, i]));
  assert.equal(byVar.APP_SERVER__PORT.expected, "a table or array to set keys in");
  assert.equal(byVar.APP_ITEMS__2__A.found, "index 2");
  assert.equal(byVar.APP_ITEMS__X.expected, "an array index (digits)");
  assert.match(byVar.APP_SERVER____PORT.found, /empty segment/);
  assert.equal(byVar.APP_LEVL.hint, "did you mean APP_LEVEL?");
  assert.equal(issues.length, 5);
});
