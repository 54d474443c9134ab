import assert from "node:assert/strict";
import { FakeHub, randomBytes } from "../../tests/helpers/fake_hub.ts";
import {
  checkHubPath,
  DEFAULT_HF_ENDPOINT,
  hasQuantTag,
  hubConfigFromEnv,
  HubError,
  listRepoTree,
  openHubFile,
  resolveHfSource,
  selectQuantFiles,
  splitPartPaths,
} from "./hf_source.ts";

const env = (vars: Record<string, string>) => (name: string) => vars[name];

Deno.test("hubConfigFromEnv: default endpoint, HF_ENDPOINT without trailing slash, HF_TOKEN", () => {
  assert.deepEqual(hubConfigFromEnv(env({})), { endpoint: DEFAULT_HF_ENDPOINT, token: undefined });
  assert.deepEqual(
    hubConfigFromEnv(env({ HF_ENDPOINT: "http://mirror.local:8080/hf/", HF_TOKEN: " hf_x " })),
    { endpoint: "http://mirror.local:8080/hf", token: "hf_x" },
  );
  assert.throws(
    () => hubConfigFromEnv(env({ HF_ENDPOINT: "mirror.local" })),
    (e: unknown) =>
      e instanceof HubError && e.code === "invalid_config" && /HF_ENDPOINT/.test(e.message),
  );
  assert.throws(() => hubConfigFromEnv(env({ HF_ENDPOINT: "ftp://mirror" })), /not http/);
});

Deno.test("hasQuantTag matches the tag as a whole token, any case", () => {
  assert.equal(hasQuantTag("Qwen3-8B-Q4_K_M.gguf", "q4_k_m"), true);
  assert.equal(hasQuantTag("Q4_K_M/Qwen3-8B-Q4_K_M-00001-of-00002.gguf", "Q4_K_M"), true);
  assert.equal(hasQuantTag("Qwen3-8B-UD-Q4_K_XL.gguf", "UD-Q4_K_XL"), true);
  assert.equal(hasQuantTag("Qwen3-8B-Q4_K_M.gguf", "Q4_K"), false);
  assert.equal(hasQuantTag("Qwen3-8B-IQ4_XS.gguf", "Q4_XS"), false);
  assert.equal(hasQuantTag("model-Q4_0_4_4.gguf", "Q4_0"), false);
});

Deno.test("splitPartPaths lists every part of a split name", () => {
  assert.deepEqual(splitPartPaths("d/m-Q8_0-00002-of-00003.gguf"), [
    "d/m-Q8_0-00001-of-00003.gguf",
    "d/m-Q8_0-00002-of-00003.gguf",
    "d/m-Q8_0-00003-of-00003.gguf",
  ]);
  assert.equal(splitPartPaths("m-Q8_0.gguf"), null);
});

Deno.test("selectQuantFiles picks one model, groups split parts and skips projectors", () => {
  const listing = [
    "README.md",
    "m-Q4_K_M.gguf",
    "m-Q4_K_S.gguf",
    "mmproj-m-F16.gguf",
    "m-F16.gguf",
    "Q8_0/m-Q8_0-00002-of-00002.gguf",
    "Q8_0/m-Q8_0-00001-of-00002.gguf",
  ];
  assert.deepEqual(selectQuantFiles(listing, "q4_k_m", "o/r"), ["m-Q4_K_M.gguf"]);
  assert.deepEqual(selectQuantFiles(listing, "F16", "o/r"), ["m-F16.gguf"]);
  assert.deepEqual(selectQuantFiles(listing, "Q8_0", "o/r"), [
    "Q8_0/m-Q8_0-00001-of-00002.gguf",
    "Q8_0/m-Q8_0-00002-of-00002.gguf",
  ]);
});

Deno.test("selectQuantFiles names the candidates when nothing or several match", () => {
  const listing = ["a-Q4_K_M.gguf", "sub/b-Q4_K_M.gguf", "a-Q5_K_M.gguf"];
  assert.throws(
    () => selectQuantFiles(listing, "Q4_K_M", "o/r"),
    (e: unknown) =>
      e instanceof HubError && e.code === "ambiguous" &&
      e.message.includes("a-Q4_K_M.gguf") && e.message.includes("sub/b-Q4_K_M.gguf") &&
      e.message.includes('"hf:o/r/a-Q4_K_M.gguf"'),
  );
  assert.throws(
    () => selectQuantFiles(listing, "Q4_K", "o/r"),
    (e: unknown) =>
      e instanceof HubError && e.code === "not_found" &&
      e.message.includes("available: a-Q4_K_M.gguf, a-Q5_K_M.gguf, sub/b-Q4_K_M.gguf"),
  );
  assert.throws(
    () =>
      selectQuantFiles(["m-Q2_K-00001-of-00003.gguf", "m-Q2_K-00003-of-00003.gguf"], "Q2_K", "o/r"),
    (e: unknown) =>
      e instanceof HubError && e.code === "bad_listing" &&
      e.message.includes("m-Q2_K-00002-of-00003.gguf"),
  );
});

Deno.test("checkHubPath refuses paths that could leave the repo or the store", () => {
  for (
    const p of [
      "../x.gguf",
      "a/../../x.gguf",
      "/etc/x.gguf",
      "a/./x.gguf",
      "a\\x.gguf",
      "a//x.gguf",
      "sp ace.gguf",
      "",
    ]
  ) {
    assert.throws(() => checkHubPath(p), HubError, p);
  }
  checkHubPath("Q8_0/model-Q8_0.gguf");
});

Deno.test("listRepoTree follows Link pages and sends the token", async () => {
  const files = Array.from(
    { length: 5 },
    (_, i) => ({ path: `f${i}.gguf`, data: randomBytes(10) }),
  );
  const hub = FakeHub.start({ repos: { "o/r": files }, token: "hf_secret", pageSize: 2 });
  try {
    const entries = await listRepoTree({ endpoint: hub.url, token: "hf_secret" }, "o/r", {
      recursive: true,
    });
    assert.deepEqual(entries.map((e) => e.path), files.map((f) => f.path));
    const pages = hub.seen("/tree/main");
    assert.equal(pages.length, 3);
    assert.ok(pages.every((r) => r.authorization === "Bearer hf_secret"));
    const err = await listRepoTree({ endpoint: hub.url }, "o/r", { recursive: true }).catch((e) =>
      e
    );
    assert.ok(err instanceof HubError && err.code === "unauthorized", String(err));
    assert.match(err.message, /HF_TOKEN is not set/);
  } finally {
    await hub.close();
  }
});

Deno.test("resolveHfSource reads size and sha256 from the listing of the file's folder", async () => {
  const data = randomBytes(1000);
  const hub = FakeHub.start({
    repos: {
      "o/r": [{ path: "sub/m-Q4_0.gguf", data }, { path: "sub/m-Q8_0.gguf", data: randomBytes(5) }],
    },
  });
  try {
    const hf = { endpoint: hub.url };
    const r = await resolveHfSource(hf, { kind: "hf", repo: "o/r", file: "sub/m-Q4_0.gguf" });
    assert.deepEqual(r, {
      repo: "o/r",
      files: [{
        path: "sub/m-Q4_0.gguf",
        size: 1000,
        sha256: hub.sha256("o/r", "sub/m-Q4_0.gguf"),
      }],
    });
    assert.ok(hub.seen("/tree/main/sub?recursive=false").length === 1);
    const missing = await resolveHfSource(hf, { kind: "hf", repo: "o/r", file: "sub/m-Q2_K.gguf" })
      .catch((e) => e);
    assert.ok(missing instanceof HubError && missing.code === "not_found");
    assert.match(
      missing.message,
      /sub\/m-Q2_K\.gguf is not in o\/r.*sub\/m-Q4_0\.gguf, sub\/m-Q8_0\.gguf/,
    );
  } finally {
    await hub.close();
  }
});

Deno.test("openHubFile follows the CDN redirect without the token and honours Range", async () => {
  const data = randomBytes(4096);
  const hub = FakeHub.start({ repos: { "o/r": [{ path: "m.gguf", data }] }, token: "hf_secret" });
  try {
    const opened = await openHubFile({ endpoint: hub.url, token: "hf_secret" }, "o/r", "m.gguf", {
      offset: 1000,
    });
    assert.equal(opened.response.status, 206);
    assert.equal(opened.response.headers.get("content-range"), "bytes 1000-4095/4096");
    assert.deepEqual(new Uint8Array(await opened.response.arrayBuffer()), data.subarray(1000));
    assert.equal(opened.linkedSize, 4096);
    assert.equal(opened.linkedSha256, hub.sha256("o/r", "m.gguf"));
    const [resolve] = hub.seen("/resolve/main/m.gguf");
    const [cdn] = hub.requests.filter((r) => r.server === "cdn");
    assert.equal(resolve.authorization, "Bearer hf_secret");
    assert.equal(cdn.authorization, null, "the token must not travel to the CDN");
    assert.equal(cdn.range, "bytes=1000-");
  } finally {
    await hub.close();
  }
});
