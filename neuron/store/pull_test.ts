import assert from "node:assert/strict";
import {
  FakeHub,
  type FakeHubOptions,
  randomBytes,
  sha256Hex,
} from "../../tests/helpers/fake_hub.ts";
import type { PullProgress } from "../../core/neuron/pull.ts";
import { HubError } from "./hf_source.ts";
import { ModelStore } from "./model_store.ts";
import { PullError, pullFromHub, type PullOptions, PullRegistry, storeRelPath } from "./pull.ts";

const MiB = 1 << 20;

async function withHub(
  opts: FakeHubOptions,
  fn: (
    hub: FakeHub,
    dir: string,
    base: (extra?: Partial<PullOptions>) => PullOptions,
  ) => Promise<void>,
): Promise<void> {
  const hub = FakeHub.start(opts);
  const dir = await Deno.makeTempDir({ prefix: "cortex-pull-" });
  const base = (extra: Partial<PullOptions> = {}): PullOptions => ({
    hub: { endpoint: hub.url },
    storeDir: dir,
    retryDelayMs: 5,
    ...extra,
  });
  try {
    await fn(hub, dir, base);
  } finally {
    await hub.close();
    await Deno.remove(dir, { recursive: true });
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch {
    return false;
  }
}

async function fileSha(path: string): Promise<string> {
  return sha256Hex(await Deno.readFile(path));
}

const gguf = (path: string, bytes: number) => ({ path, data: randomBytes(bytes) });

Deno.test("storeRelPath keeps {repo}/{file} and refuses what the store cannot hold", () => {
  assert.equal(storeRelPath("org/Repo-GGUF", "Q8_0/m-Q8_0.GGUF"), "Repo-GGUF/m-Q8_0.gguf");
  assert.throws(() => storeRelPath("o/r", "../m.gguf"), HubError);
  assert.throws(() => storeRelPath("o/r", "m.bin"), PullError);
});

Deno.test("a pull lands the verified file at {repo}/{file} with no partial left", async () => {
  const file = gguf("sub/m-Q4_K_M.gguf", 3 * MiB);
  await withHub({ repos: { "org/r": [file] } }, async (hub, dir, base) => {
    const r = await pullFromHub("hf:org/r/sub/m-Q4_K_M.gguf", base());
    assert.deepEqual(r, {
      model: "r/m-Q4_K_M",
      path_relative: "r/m-Q4_K_M.gguf",
      size_bytes: 3 * MiB,
      sha256: hub.sha256("org/r", file.path),
      files: [{
        path_relative: "r/m-Q4_K_M.gguf",
        size_bytes: 3 * MiB,
        sha256: hub.sha256("org/r", file.path),
      }],
      already: false,
    });
    assert.equal(await fileSha(`${dir}/r/m-Q4_K_M.gguf`), sha256Hex(file.data));
    assert.deepEqual([...Deno.readDirSync(`${dir}/r`)].map((e) => e.name), ["m-Q4_K_M.gguf"]);
    const entry = await new ModelStore([dir]).resolve(r.model);
    assert.equal(entry.sizeBytes, 3 * MiB);
  });
});

Deno.test("a cut connection is resumed with Range and the sha256 covers all bytes", async () => {
  const file = gguf("m.gguf", 3 * MiB);
  await withHub({ repos: { "o/r": [file] } }, async (hub, dir, base) => {
    hub.cutOnce("o/r", "m.gguf", MiB + 123);
    const err = await pullFromHub("hf:o/r/m.gguf", base({ retries: 0 })).catch((e) => e);
    assert.ok(err instanceof HubError && err.code === "network", String(err));
    const partial = `${dir}/r/m.gguf.partial`;
    const kept = (await Deno.stat(partial)).size;
    assert.ok(kept > 0 && kept <= MiB + 123, `partial holds ${kept} bytes`);
    assert.equal(await exists(`${dir}/r/m.gguf`), false);

    const r = await pullFromHub("hf:o/r/m.gguf", base());
    const ranged = hub.requests.filter((q) => q.server === "cdn" && q.range !== null);
    assert.deepEqual(ranged.map((q) => q.range), [`bytes=${kept}-`]);
    assert.equal(r.sha256, sha256Hex(file.data));
    assert.equal(await fileSha(`${dir}/r/m.gguf`), sha256Hex(file.data));
    assert.equal(await exists(partial), false);
  });
});

Deno.test("a dropped connection is retried within one pull by resuming", async () => {
  const file = gguf("m.gguf", 2 * MiB);
  await withHub({ repos: { "o/r": [file] } }, async (hub, dir, base) => {
    hub.cutOnce("o/r", "m.gguf", 700_000);
    const r = await pullFromHub("hf:o/r/m.gguf", base());
    const cdn = hub.requests.filter((q) => q.server === "cdn");
    assert.equal(cdn.length, 2);
    assert.equal(cdn[0].range, null);
    assert.match(cdn[1].range ?? "", /^bytes=\d+-$/);
    assert.notEqual(cdn[1].range, "bytes=0-");
    assert.equal(r.sha256, sha256Hex(file.data));
    assert.equal(await fileSha(`${dir}/r/m.gguf`), sha256Hex(file.data));
  });
});

Deno.test("a stalled transfer is dropped after the stall timeout and resumed", async () => {
  const file = gguf("m.gguf", MiB);
  await withHub({ repos: { "o/r": [file] } }, async (hub, dir, base) => {
    hub.stallOnce("o/r", "m.gguf", 300_000);
    const r = await pullFromHub("hf:o/r/m.gguf", base({ stallTimeoutMs: 300 }));
    assert.equal(r.sha256, sha256Hex(file.data));
    assert.ok(hub.requests.some((q) => q.server === "cdn" && q.range?.startsWith("bytes=")));
    assert.equal(await fileSha(`${dir}/r/m.gguf`), sha256Hex(file.data));
  });
});

Deno.test("a server that ignores Range gets the partial rewritten from byte 0", async () => {
  const file = gguf("m.gguf", MiB);
  await withHub({ repos: { "o/r": [file] } }, async (hub, dir, base) => {
    await Deno.mkdir(`${dir}/r`);
    // A partial whose bytes are wrong: only a restart from zero can produce the right hash.
    await Deno.writeFile(`${dir}/r/m.gguf.partial`, randomBytes(1000));
    hub.ignoreRange = true;
    const r = await pullFromHub("hf:o/r/m.gguf", base());
    assert.deepEqual(hub.requests.filter((q) => q.server === "cdn").map((q) => q.range), [
      "bytes=1000-",
    ]);
    assert.equal(r.sha256, sha256Hex(file.data));
    assert.equal(await fileSha(`${dir}/r/m.gguf`), sha256Hex(file.data));
  });
});

Deno.test("a partial longer than the file is discarded and the download starts over", async () => {
  const file = gguf("m.gguf", 10_000);
  await withHub({ repos: { "o/r": [file] } }, async (hub, dir, base) => {
    await Deno.mkdir(`${dir}/r`);
    await Deno.writeFile(`${dir}/r/m.gguf.partial`, randomBytes(20_000));
    const r = await pullFromHub("hf:o/r/m.gguf", base());
    assert.equal(r.sha256, sha256Hex(file.data));
    assert.deepEqual(hub.requests.filter((q) => q.server === "cdn").map((q) => q.range), [null]);
  });
});

Deno.test("a checksum mismatch is refused: no file lands and the partial is removed", async () => {
  const file = gguf("m.gguf", MiB);
  await withHub({ repos: { "o/r": [file] } }, async (hub, dir, base) => {
    hub.corrupt("o/r", "m.gguf");
    const err = await pullFromHub("hf:o/r/m.gguf", base()).catch((e) => e);
    assert.ok(err instanceof PullError && err.code === "checksum_mismatch", String(err));
    const wrong = sha256Hex(file.data.map((b) => b ^ 0xff));
    assert.ok(err.message.includes(wrong), "names the actual sha256");
    assert.ok(err.message.includes(sha256Hex(file.data)), "names the expected sha256");
    assert.deepEqual([...Deno.readDirSync(`${dir}/r`)], []);
  });
});

Deno.test("the file is absent under its final name until the download completes", async () => {
  const file = gguf("m.gguf", 3 * MiB);
  await withHub({ repos: { "o/r": [file] } }, async (_hub, dir, base) => {
    const seen: Array<{ bytes: number; final: boolean; partial: boolean }> = [];
    const r = await pullFromHub(
      "hf:o/r/m.gguf",
      base({
        progressIntervalMs: 0,
        onProgress: (p) => {
          seen.push({
            bytes: p.bytes,
            final: Deno.statSync(`${dir}/r`).isDirectory && existsSync(`${dir}/r/m.gguf`),
            partial: existsSync(`${dir}/r/m.gguf.partial`),
          });
        },
      }),
    );
    const mid = seen.filter((s) => s.bytes > 0 && s.bytes < r.size_bytes);
    assert.ok(mid.length > 0, "progress was reported mid-download");
    assert.ok(mid.every((s) => !s.final && s.partial), JSON.stringify(mid.slice(0, 3)));
    assert.ok(existsSync(`${dir}/r/m.gguf`));
  });
});

function existsSync(path: string): boolean {
  try {
    Deno.lstatSync(path);
    return true;
  } catch {
    return false;
  }
}

Deno.test("progress is monotonic through a cut and a restart, and ends at the total", async () => {
  const file = gguf("m.gguf", 2 * MiB);
  await withHub({ repos: { "o/r": [file] } }, async (hub, _dir, base) => {
    hub.cutOnce("o/r", "m.gguf", MiB);
    hub.ignoreRange = true; // the retry starts over from zero
    const events: PullProgress[] = [];
    await pullFromHub(
      "hf:o/r/m.gguf",
      base({ progressIntervalMs: 0, onProgress: (p) => events.push(p) }),
    );
    assert.ok(events.length > 3);
    for (let i = 1; i < events.length; i++) {
      assert.ok(events[i].bytes >= events[i - 1].bytes, `event ${i} went back`);
    }
    assert.ok(events.every((e) => e.total === 2 * MiB && e.model === "r/m" && e.rate >= 0));
    assert.equal(events[0].bytes, 0);
    assert.equal(events.at(-1)!.bytes, 2 * MiB);
    assert.equal(hub.requests.filter((q) => q.server === "cdn").length, 2);
  });
});

Deno.test("hf:org/repo:QUANT pulls the one matching file; ambiguity names the candidates", async () => {
  const repos = {
    "o/r": [
      gguf("r-Q4_K_M.gguf", 2000),
      gguf("r-Q4_K_S.gguf", 3000),
      gguf("mmproj-r-F16.gguf", 100),
      gguf("r-F16.gguf", 4000),
    ],
    "o/amb": [gguf("a-Q8_0.gguf", 10), gguf("big/a-Q8_0.gguf", 10)],
  };
  await withHub({ repos }, async (hub, dir, base) => {
    const r = await pullFromHub("hf:o/r:q4_k_m", base());
    assert.equal(r.model, "r/r-Q4_K_M");
    assert.equal(r.size_bytes, 2000);
    assert.equal(await fileSha(`${dir}/r/r-Q4_K_M.gguf`), hub.sha256("o/r", "r-Q4_K_M.gguf"));
    assert.ok(hub.seen("/api/models/o/r/tree/main?recursive=true").length === 1);

    const f16 = await pullFromHub("hf:o/r:F16", base());
    assert.equal(f16.model, "r/r-F16", "the projector is not a candidate");

    const amb = await pullFromHub("hf:o/amb:Q8_0", base()).catch((e) => e);
    assert.ok(amb instanceof HubError && amb.code === "ambiguous", String(amb));
    assert.match(amb.message, /a-Q8_0\.gguf, big\/a-Q8_0\.gguf/);
    const none = await pullFromHub("hf:o/r:Q2_K", base()).catch((e) => e);
    assert.ok(none instanceof HubError && none.code === "not_found");
    assert.match(none.message, /available: r-F16\.gguf, r-Q4_K_M\.gguf, r-Q4_K_S\.gguf/);
    assert.equal(await exists(`${dir}/amb`), false);
  });
});

Deno.test("a split model downloads every part; the store lists it once, under the first", async () => {
  const parts = [1, 2, 3].map((i) => gguf(`Q8_0/m-Q8_0-0000${i}-of-00003.gguf`, 200_000 + i));
  await withHub(
    { repos: { "o/m-GGUF": [gguf("m-Q4_0.gguf", 10), ...parts] } },
    async (hub, dir, base) => {
      const r = await pullFromHub("hf:o/m-GGUF:Q8_0", base());
      assert.equal(r.model, "m-GGUF/m-Q8_0-00001-of-00003");
      assert.equal(r.sha256, null);
      assert.equal(r.size_bytes, 600_006);
      assert.deepEqual(
        r.files.map((f) => [f.path_relative, f.sha256]),
        parts.map((p) => [`m-GGUF/${p.path.slice(5)}`, sha256Hex(p.data)]),
      );
      for (const p of parts) {
        assert.equal(await fileSha(`${dir}/m-GGUF/${p.path.slice(5)}`), sha256Hex(p.data));
      }
      const listed = await new ModelStore([dir]).list();
      assert.deepEqual(listed.map((e) => e.id), ["m-GGUF/m-Q8_0-00001-of-00003"]);
      // Naming a later part pulls the same model (already there now).
      const again = await pullFromHub("hf:o/m-GGUF/Q8_0/m-Q8_0-00002-of-00003.gguf", base());
      assert.equal(again.model, r.model);
      assert.equal(again.already, true);
      assert.equal(hub.requests.filter((q) => q.server === "cdn").length, 3);
    },
  );
});

Deno.test("a present file answers already; a different file under that name is a conflict", async () => {
  const file = gguf("m.gguf", 5000);
  await withHub(
    { repos: { "o/r": [file], "p/r": [gguf("m.gguf", 6000)] } },
    async (hub, _dir, base) => {
      await pullFromHub("hf:o/r/m.gguf", base());
      const cdnBefore = hub.requests.filter((q) => q.server === "cdn").length;
      const again = await pullFromHub("hf:o/r/m.gguf", base());
      assert.equal(again.already, true);
      assert.equal(again.sha256, sha256Hex(file.data));
      assert.equal(hub.requests.filter((q) => q.server === "cdn").length, cdnBefore);
      const clash = await pullFromHub("hf:p/r/m.gguf", base()).catch((e) => e);
      assert.ok(clash instanceof PullError && clash.code === "conflict", String(clash));
      assert.match(clash.message, /r\/m\.gguf is already in the store with 5000 bytes/);
    },
  );
});

Deno.test("the token goes to the hub and never to the CDN; without it the hub refuses", async () => {
  const file = gguf("m.gguf", 50_000);
  await withHub({ repos: { "o/r": [file] }, token: "hf_tok" }, async (hub, _dir, base) => {
    const denied = await pullFromHub("hf:o/r/m.gguf", base()).catch((e) => e);
    assert.ok(denied instanceof HubError && denied.code === "unauthorized", String(denied));
    const r = await pullFromHub(
      "hf:o/r/m.gguf",
      base({ hub: { endpoint: hub.url, token: "hf_tok" } }),
    );
    assert.equal(r.sha256, sha256Hex(file.data));
    const authed = hub.requests.filter((q) => q.authorization !== null);
    assert.ok(authed.length >= 2 && authed.every((q) => q.server === "hub"));
    assert.ok(authed.every((q) => q.authorization === "Bearer hf_tok"));
    assert.ok(hub.requests.some((q) => q.server === "cdn" && q.authorization === null));
  });
});

Deno.test("paths from a hostile hub listing are refused and nothing is written", async () => {
  const repos = {
    "o/evil": [gguf("../../../escape-Q4_0.gguf", 100)],
    "o/odd": [gguf("we ird-Q4_0.gguf", 100)],
  };
  await withHub({ repos }, async (hub, dir, base) => {
    for (const source of ["hf:o/evil:Q4_0", "hf:o/odd:Q4_0"]) {
      const err = await pullFromHub(source, base()).catch((e) => e);
      assert.ok(err instanceof HubError && err.code === "bad_listing", `${source}: ${err}`);
      assert.match(err.message, /unsafe file path/);
    }
    assert.deepEqual([...Deno.readDirSync(dir)], []);
    assert.equal(hub.requests.filter((q) => q.url.includes("/resolve/")).length, 0);
  });
});

Deno.test("a repo folder that is a symlink out of the store is refused", async () => {
  const outside = await Deno.makeTempDir({ prefix: "cortex-outside-" });
  try {
    await withHub({ repos: { "o/r": [gguf("m.gguf", 100)] } }, async (_hub, dir, base) => {
      await Deno.symlink(outside, `${dir}/r`);
      const err = await pullFromHub("hf:o/r/m.gguf", base()).catch((e) => e);
      assert.ok(err instanceof PullError && err.code === "unsafe_path", String(err));
      assert.deepEqual([...Deno.readDirSync(outside)], []);
    });
  } finally {
    await Deno.remove(outside, { recursive: true });
  }
});

Deno.test("cancelling keeps the partial and the next pull resumes it", async () => {
  const file = gguf("m.gguf", 3 * MiB);
  await withHub({ repos: { "o/r": [file] } }, async (hub, dir, base) => {
    hub.stallOnce("o/r", "m.gguf", MiB);
    const ctl = new AbortController();
    const err = await pullFromHub(
      "hf:o/r/m.gguf",
      base({
        signal: ctl.signal,
        progressIntervalMs: 0,
        onProgress: (p) => p.bytes >= MiB && ctl.abort(),
      }),
    ).catch((e) => e);
    assert.ok(err instanceof PullError && err.code === "cancelled", String(err));
    assert.equal((await Deno.stat(`${dir}/r/m.gguf.partial`)).size, MiB);
    const early = await pullFromHub("hf:o/r/m.gguf", base({ signal: AbortSignal.abort() }))
      .catch((e) => e);
    assert.ok(early instanceof PullError && early.code === "cancelled", String(early));
    const r = await pullFromHub("hf:o/r/m.gguf", base());
    assert.equal(hub.requests.filter((q) => q.server === "cdn").at(-1)!.range, `bytes=${MiB}-`);
    assert.equal(r.sha256, sha256Hex(file.data));
  });
});

Deno.test("PullRegistry: concurrent pulls of one model share a single download", async () => {
  const file = gguf("m.gguf", 2 * MiB);
  await withHub({ repos: { "o/r": [file] } }, async (hub, dir, base) => {
    const registry = new PullRegistry();
    const a: PullProgress[] = [];
    const b: PullProgress[] = [];
    const [ra, rb] = await Promise.all([
      registry.pull("hf:o/r/m.gguf", base({ progressIntervalMs: 0, onProgress: (p) => a.push(p) })),
      registry.pull("hf:o/r/m.gguf", base({ progressIntervalMs: 0, onProgress: (p) => b.push(p) })),
    ]);
    assert.equal(ra.sha256, sha256Hex(file.data));
    assert.deepEqual(ra, rb);
    assert.equal(hub.requests.filter((q) => q.server === "cdn").length, 1);
    assert.equal(a.at(-1)?.bytes, 2 * MiB);
    assert.equal(b.at(-1)?.bytes, 2 * MiB);
    assert.equal(await fileSha(`${dir}/r/m.gguf`), sha256Hex(file.data));
    assert.deepEqual(registry.active(), []);
  });
});

Deno.test("PullRegistry: one caller leaving does not stop the others; the last one does", async () => {
  const file = gguf("m.gguf", 2 * MiB);
  await withHub({ repos: { "o/r": [file] } }, async (hub, dir, base) => {
    const registry = new PullRegistry();
    const leaver = new AbortController();
    hub.cutOnce("o/r", "m.gguf", MiB); // slows the transfer down to a retry
    const stays = registry.pull("hf:o/r/m.gguf", base({ retryDelayMs: 100 }));
    const leaves = registry.pull("hf:o/r/m.gguf", base({ signal: leaver.signal }));
    await new Promise((r) => setTimeout(r, 20));
    leaver.abort();
    const left = await leaves.catch((e) => e);
    assert.ok(left instanceof PullError && left.code === "cancelled", String(left));
    assert.equal((await stays).sha256, sha256Hex(file.data));

    await Deno.remove(`${dir}/r/m.gguf`);
    hub.stallOnce("o/r", "m.gguf", MiB);
    const only = new AbortController();
    const alone = registry.pull(
      "hf:o/r/m.gguf",
      base({
        signal: only.signal,
        progressIntervalMs: 0,
        onProgress: (p) => p.bytes >= MiB && only.abort(),
      }),
    );
    const err = await alone.catch((e) => e);
    assert.ok(err instanceof PullError && err.code === "cancelled", String(err));
    // The shared download stopped too: its partial stays and nothing is in flight.
    for (let i = 0; i < 50 && registry.active().length > 0; i++) {
      await new Promise((r) => setTimeout(r, 10));
    }
    assert.deepEqual(registry.active(), []);
    assert.equal((await Deno.stat(`${dir}/r/m.gguf.partial`)).size, MiB);
  });
});
