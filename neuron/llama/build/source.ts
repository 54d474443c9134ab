/**
 * The llama.cpp source of the supported release, from (in this order):
 *
 * - `--source <path>`: node-llama-cpp's npm tarball (checked against the registry's
 *   integrity, then cached), a llama.cpp source archive (.tar.xz / .tar.gz), or a source folder;
 * - the npm tarball cached by an earlier run;
 * - `npm pack node-llama-cpp@3.21.1` into the cache (the one network access; 35 MB).
 *
 * The npm package ships the release as a git bundle (`llama/gitRelease.bundle`); it is cloned
 * into `<cache>/llama/v0.4.0/src`. node-llama-cpp is not a dependency of this project: it
 * would pull some 140 MB of optional CUDA packages into every install.
 */

import { RELEASE, type ReleasePaths } from "./cache.ts";

export class SourceError extends Error {
  override name = "SourceError";
}

export interface Source {
  dir: string;
  /** What it came from, for the manifest. */
  from: string;
  commit: string | null;
}

type Log = (line: string) => void;

/** Runs a command; throws SourceError with its output when it fails. */
async function run(cmd: string, args: string[], what: string, cwd?: string): Promise<string> {
  let out: Deno.CommandOutput;
  try {
    out = await new Deno.Command(cmd, { args, cwd, stdout: "piped", stderr: "piped" }).output();
  } catch (e) {
    throw new SourceError(`${what}: cannot run ${cmd}: ${(e as Error).message}`);
  }
  const dec = new TextDecoder();
  if (!out.success) {
    throw new SourceError(`${what} failed (${cmd} ${args.join(" ")}):\n${dec.decode(out.stderr)}`);
  }
  return dec.decode(out.stdout);
}

/** "sha512-<base64>" of a file, npm's integrity format. */
async function integrityOf(path: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-512", await Deno.readFile(path));
  return `sha512-${btoa(String.fromCharCode(...new Uint8Array(digest)))}`;
}

/** The version a llama.cpp tree's CMakeLists.txt declares ("0.4.0"), or null. */
export function sourceVersion(cmakeLists: string): string | null {
  const part = (name: string) =>
    new RegExp(`set\\(LLAMA_VERSION_${name}\\s+(\\d+)\\)`).exec(cmakeLists)?.[1];
  const [a, b, c] = [part("MAJOR"), part("MINOR"), part("PATCH")];
  return a && b && c ? `${a}.${b}.${c}` : null;
}

/** Checks that `dir` is a llama.cpp tree of the supported release. */
export function checkSourceTree(dir: string, named: string): void {
  let lists: string;
  try {
    lists = Deno.readTextFileSync(`${dir}/CMakeLists.txt`);
    Deno.statSync(`${dir}/include/llama.h`);
  } catch {
    throw new SourceError(
      `${named} is not a llama.cpp source tree (no CMakeLists.txt and include/llama.h)`,
    );
  }
  const v = sourceVersion(lists);
  if (v !== RELEASE.version) {
    throw new SourceError(
      `${named} is llama.cpp ${
        v ?? "of unknown version"
      }; this binding supports ${RELEASE.version}`,
    );
  }
}

const STAMP = ".cortex-source.json";

function readStamp(dir: string): { key: string; from: string; commit: string | null } | null {
  try {
    return JSON.parse(Deno.readTextFileSync(`${dir}/${STAMP}`));
  } catch {
    return null;
  }
}

/** Replaces `dest` with the tree `staged` (a rename, so a half-written tree is never seen). */
async function replaceDir(staged: string, dest: string): Promise<void> {
  await Deno.remove(dest, { recursive: true }).catch(() => {});
  await Deno.rename(staged, dest);
}

async function unpackNpmTarball(paths: ReleasePaths, from: string, log: Log): Promise<Source> {
  const key = `npm:${RELEASE.integrity}`;
  const stamp = readStamp(paths.src);
  if (stamp?.key === key) return { dir: paths.src, from: stamp.from, commit: stamp.commit };
  log(`unpacking the llama.cpp ${RELEASE.tag} git bundle from ${paths.tarball}`);
  const tmp = await Deno.makeTempDir({ dir: paths.dir, prefix: "unpack-" });
  try {
    const bundle = "package/llama/gitRelease.bundle";
    await run("tar", ["-xzf", paths.tarball, "-C", tmp, bundle], "extracting the git bundle");
    await run("git", ["clone", "-q", `${tmp}/${bundle}`, `${tmp}/src`], "cloning the git bundle");
    const commit = (await run("git", ["rev-parse", "HEAD"], "reading the commit", `${tmp}/src`))
      .trim();
    checkSourceTree(`${tmp}/src`, `the git bundle in ${paths.tarball}`);
    await Deno.writeTextFile(`${tmp}/src/${STAMP}`, JSON.stringify({ key, from, commit }));
    await replaceDir(`${tmp}/src`, paths.src);
    return { dir: paths.src, from, commit };
  } finally {
    await Deno.remove(tmp, { recursive: true }).catch(() => {});
  }
}

/** Copies a node-llama-cpp tarball into the cache once its integrity is the release's. */
async function adoptTarball(path: string, paths: ReleasePaths): Promise<void> {
  const got = await integrityOf(path);
  if (got !== RELEASE.integrity) {
    throw new SourceError(
      `${path} is not ${RELEASE.npmPackage}@${RELEASE.npmVersion} (its sha512 differs from the ` +
        `registry's); make it with \`npm pack ${RELEASE.npmPackage}@${RELEASE.npmVersion}\``,
    );
  }
  if (path !== paths.tarball) await Deno.copyFile(path, paths.tarball);
}

async function fetchTarball(paths: ReleasePaths, log: Log): Promise<void> {
  const spec = `${RELEASE.npmPackage}@${RELEASE.npmVersion}`;
  log(`fetching ${spec} with npm pack (35 MB, once) into ${paths.dir}`);
  const tmp = await Deno.makeTempDir({ dir: paths.dir, prefix: "npm-" });
  try {
    await run("npm", ["pack", "--silent", spec, "--pack-destination", tmp], `npm pack ${spec}`)
      .catch((e) => {
        throw new SourceError(
          `${(e as Error).message}\nOn a host without network, run \`npm pack ${spec}\` on one ` +
            `that has it and pass the .tgz with --source.`,
        );
      });
    await adoptTarball(`${tmp}/${paths.tarball.split("/").pop()}`, paths);
  } finally {
    await Deno.remove(tmp, { recursive: true }).catch(() => {});
  }
}

/** Lists a tar archive's entries (tar detects the compression). */
async function tarList(path: string): Promise<string[]> {
  return (await run("tar", ["-tf", path], `listing ${path}`)).split("\n").filter(Boolean);
}

async function unpackArchive(path: string, paths: ReleasePaths, log: Log): Promise<Source> {
  const bytes = await Deno.readFile(path);
  const sha = Array.from(new Uint8Array(await crypto.subtle.digest("SHA-256", bytes)))
    .map((b) => b.toString(16).padStart(2, "0")).join("");
  const key = `archive:${sha}`;
  const stamp = readStamp(paths.src);
  if (stamp?.key === key) return { dir: paths.src, from: stamp.from, commit: stamp.commit };
  log(`unpacking ${path}`);
  const tmp = await Deno.makeTempDir({ dir: paths.dir, prefix: "unpack-" });
  try {
    await Deno.mkdir(`${tmp}/src`);
    await run("tar", ["-xf", path, "-C", `${tmp}/src`], `extracting ${path}`);
    // An archive may hold the tree itself or one folder with it.
    let root = `${tmp}/src`;
    const top = [...Deno.readDirSync(root)];
    if (top.length === 1 && top[0].isDirectory) root = `${root}/${top[0].name}`;
    checkSourceTree(root, path);
    const from = `archive:${path} (sha256 ${sha.slice(0, 16)})`;
    await Deno.writeTextFile(`${root}/${STAMP}`, JSON.stringify({ key, from, commit: null }));
    await replaceDir(root, paths.src);
    return { dir: paths.src, from, commit: null };
  } finally {
    await Deno.remove(tmp, { recursive: true }).catch(() => {});
  }
}

/**
 * Why `--source` cannot be used, found before anything runs (so `--check` says it too): a
 * path that is not there, or a folder that is no llama.cpp tree of the release. An archive's
 * contents are checked when it is unpacked.
 */
function sourceProblem(source: string): string | undefined {
  let st: Deno.FileInfo;
  try {
    st = Deno.statSync(source);
  } catch {
    return `--source ${source}: no such file or folder`;
  }
  if (!st.isDirectory) return undefined;
  try {
    checkSourceTree(source, `--source ${source}`);
  } catch (e) {
    if (e instanceof SourceError) return e.message;
    throw e;
  }
}

/** Where the source will come from, before any of it runs (for the tool checks). */
export function sourcePlan(source: string | undefined, paths: ReleasePaths): {
  needNpm: boolean;
  needGit: boolean;
  sourceProblem?: string;
} {
  if (source !== undefined) {
    return {
      needNpm: false,
      needGit: source.endsWith(".tgz"),
      sourceProblem: sourceProblem(source),
    };
  }
  const cached = (() => {
    try {
      return Deno.statSync(paths.tarball).isFile;
    } catch {
      return false;
    }
  })();
  const unpacked = readStamp(paths.src)?.key === `npm:${RELEASE.integrity}`;
  return { needNpm: !cached && !unpacked, needGit: !unpacked };
}

/** Makes the source tree ready and says where it is. */
export async function prepareSource(
  source: string | undefined,
  paths: ReleasePaths,
  log: Log,
): Promise<Source> {
  await Deno.mkdir(paths.dir, { recursive: true });
  const npmFrom = `npm:${RELEASE.npmPackage}@${RELEASE.npmVersion}`;
  if (source === undefined) {
    if (readStamp(paths.src)?.key === `npm:${RELEASE.integrity}`) {
      return unpackNpmTarball(paths, npmFrom, log);
    }
    try {
      await adoptTarball(paths.tarball, paths);
    } catch (e) {
      if (e instanceof SourceError) throw e; // a corrupt cached tarball: say so
      await fetchTarball(paths, log); // not cached yet
    }
    return unpackNpmTarball(paths, npmFrom, log);
  }
  let st: Deno.FileInfo;
  try {
    st = await Deno.stat(source);
  } catch {
    throw new SourceError(`--source ${source}: no such file or folder`);
  }
  if (st.isDirectory) {
    const dir = await Deno.realPath(source);
    checkSourceTree(dir, `--source ${source}`);
    return { dir, from: `folder:${dir}`, commit: null };
  }
  const entries = await tarList(source).catch((e) => {
    throw new SourceError(
      `--source ${source} is neither a folder nor a tar archive tar can read ` +
        `(${(e as Error).message.split("\n")[1] ?? "tar failed"})`,
    );
  });
  if (entries.includes("package/llama/gitRelease.bundle")) {
    await adoptTarball(source, paths);
    return unpackNpmTarball(paths, npmFrom, log);
  }
  return unpackArchive(source, paths, log);
}
