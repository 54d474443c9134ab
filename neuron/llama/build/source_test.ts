import { assertEquals, assertMatch, assertRejects } from "../../../tests/assert.ts";
import { releasePaths } from "./cache.ts";
import { checkSourceTree, prepareSource, sourcePlan, sourceVersion } from "./source.ts";

const CMAKE = (v: [number, number, number]) =>
  `project("llama.cpp" C CXX)\nset(LLAMA_VERSION_MAJOR ${v[0]})\nset(LLAMA_VERSION_MINOR ${
    v[1]
  })\nset(LLAMA_VERSION_PATCH ${v[2]})\n`;

/** A minimal llama.cpp-shaped tree (what the checks look at). */
async function tree(dir: string, v: [number, number, number] = [0, 4, 0]): Promise<void> {
  await Deno.mkdir(`${dir}/include`, { recursive: true });
  await Deno.writeTextFile(`${dir}/CMakeLists.txt`, CMAKE(v));
  await Deno.writeTextFile(`${dir}/include/llama.h`, "// llama.h\n");
}

async function tar(args: string[], cwd: string): Promise<void> {
  const out = await new Deno.Command("tar", { args, cwd, stderr: "piped" }).output();
  if (!out.success) throw new Error(new TextDecoder().decode(out.stderr));
}

async function withTemp(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "llama-source-" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

const quiet = () => {};

Deno.test("source: the release a CMakeLists.txt declares", () => {
  assertEquals(sourceVersion(CMAKE([0, 4, 0])), "0.4.0");
  assertEquals(sourceVersion("project(x)"), null);
});

Deno.test("source: a folder must be a llama.cpp tree of the supported release", async () => {
  await withTemp(async (dir) => {
    await tree(`${dir}/old`, [0, 3, 2]);
    await assertRejects(
      () => prepareSource(`${dir}/old`, releasePaths(`${dir}/cache`), quiet),
      /--source .*\/old is llama\.cpp 0\.3\.2; this binding supports 0\.4\.0/,
    );
    await Deno.mkdir(`${dir}/empty`);
    await assertRejects(
      () => Promise.resolve(checkSourceTree(`${dir}/empty`, "here")),
      /here is not a llama\.cpp source tree \(no CMakeLists\.txt and include\/llama\.h\)/,
    );
    await tree(`${dir}/good`);
    const s = await prepareSource(`${dir}/good`, releasePaths(`${dir}/cache`), quiet);
    assertEquals(s.dir, await Deno.realPath(`${dir}/good`));
    assertEquals(s.commit, null);
    await assertRejects(
      () => prepareSource(`${dir}/nowhere`, releasePaths(`${dir}/cache`), quiet),
      /--source .*\/nowhere: no such file or folder/,
    );
  });
});

Deno.test("source: an archive unpacks into the cache once, with or without a top folder", async () => {
  await withTemp(async (dir) => {
    // What /work/shared/tools/gpu/pack.sh makes: the tree's files at the top, xz-compressed.
    await tree(`${dir}/flat`);
    await tar(["-cJf", `${dir}/llama-src.tar.xz`, "CMakeLists.txt", "include"], `${dir}/flat`);
    const paths = releasePaths(`${dir}/cache`);
    const lines: string[] = [];
    const a = await prepareSource(`${dir}/llama-src.tar.xz`, paths, (l) => lines.push(l));
    assertEquals(a.dir, paths.src);
    assertMatch(a.from, /^archive:.*llama-src\.tar\.xz \(sha256 [0-9a-f]{16}\)$/);
    assertEquals(Deno.readTextFileSync(`${paths.src}/include/llama.h`), "// llama.h\n");
    assertEquals(lines.length, 1);
    // The same archive again: nothing is unpacked.
    await prepareSource(`${dir}/llama-src.tar.xz`, paths, (l) => lines.push(l));
    assertEquals(lines.length, 1);
    // A release tarball with its top folder.
    await tree(`${dir}/nested/llama.cpp-b1`);
    await tar(["-czf", `${dir}/nested.tar.gz`, "llama.cpp-b1"], `${dir}/nested`);
    const b = await prepareSource(`${dir}/nested.tar.gz`, paths, quiet);
    assertEquals(b.dir, paths.src);
    assertEquals(Deno.readTextFileSync(`${paths.src}/CMakeLists.txt`), CMAKE([0, 4, 0]));
  });
});

Deno.test("source: an npm tarball that is not node-llama-cpp 3.21.1 is refused", async () => {
  await withTemp(async (dir) => {
    await Deno.mkdir(`${dir}/package/llama`, { recursive: true });
    await Deno.writeTextFile(`${dir}/package/llama/gitRelease.bundle`, "not a bundle");
    await tar(["-czf", `${dir}/node-llama-cpp-3.21.1.tgz`, "package"], dir);
    await assertRejects(
      () => prepareSource(`${dir}/node-llama-cpp-3.21.1.tgz`, releasePaths(`${dir}/c`), quiet),
      /node-llama-cpp-3\.21\.1\.tgz is not node-llama-cpp@3\.21\.1 \(its sha512 differs from the registry's\); make it with `npm pack node-llama-cpp@3\.21\.1`/,
    );
  });
});

Deno.test("source plan: npm only when nothing is cached; git only for the npm bundle", async () => {
  await withTemp(async (dir) => {
    const paths = releasePaths(dir);
    assertEquals(sourcePlan(undefined, paths), { needNpm: true, needGit: true });
    for (const name of ["llama-src.tar.xz", "node-llama-cpp-3.21.1.tgz"]) {
      await Deno.writeTextFile(`${dir}/${name}`, "an archive");
    }
    assertEquals(sourcePlan(`${dir}/llama-src.tar.xz`, paths), {
      needNpm: false,
      needGit: false,
      sourceProblem: undefined,
    });
    assertEquals(sourcePlan(`${dir}/node-llama-cpp-3.21.1.tgz`, paths), {
      needNpm: false,
      needGit: true,
      sourceProblem: undefined,
    });
    await Deno.mkdir(paths.dir, { recursive: true });
    await Deno.writeTextFile(paths.tarball, "cached");
    assertEquals(sourcePlan(undefined, paths), { needNpm: false, needGit: true });
  });
});

Deno.test("source plan: a --source that is not there, or no llama.cpp tree, is a problem found first", async () => {
  await withTemp(async (dir) => {
    const paths = releasePaths(`${dir}/cache`);
    // Found with the tools, so `--check` says it and a build stops before anything runs.
    assertEquals(
      sourcePlan(`${dir}/nowhere.tgz`, paths).sourceProblem,
      `--source ${dir}/nowhere.tgz: no such file or folder`,
    );
    await tree(`${dir}/old`, [0, 3, 2]);
    assertMatch(sourcePlan(`${dir}/old`, paths).sourceProblem!, /is llama\.cpp 0\.3\.2/);
    await tree(`${dir}/good`);
    assertEquals(sourcePlan(`${dir}/good`, paths).sourceProblem, undefined);
    // A file tar cannot read is said as such, not as tar's listing failure.
    await Deno.writeTextFile(`${dir}/notes.txt`, "not an archive\n");
    await assertRejects(
      () => prepareSource(`${dir}/notes.txt`, paths, quiet),
      /--source .*\/notes\.txt is neither a folder nor a tar archive tar can read \(.+\)/,
    );
  });
});
