import { assert, assertEquals, assertMatch } from "../../../tests/assert.ts";
import {
  archsFromComputeCaps,
  checkTools,
  parseArch,
  parseCmakeVersion,
  parseDriverCuda,
  parseNvccVersion,
} from "./tools.ts";

/** A folder of executables that print fixed text: the host's tools as the checks see them. */
async function fakeTools(tools: Record<string, string>): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "fake-tools-" });
  for (const [name, script] of Object.entries(tools)) {
    const path = `${dir}/${name}`;
    await Deno.mkdir(path.slice(0, path.lastIndexOf("/")), { recursive: true });
    await Deno.writeTextFile(path, `#!/bin/sh\n${script}\n`);
    await Deno.chmod(path, 0o755);
  }
  return dir;
}

const BASE = {
  cmake: `echo "cmake version 3.25.1"`,
  "c++": "true",
  cc: "true",
  ninja: "true",
  tar: "true",
  git: "true",
};

const CPU = { cuda: false, needNpm: false, needGit: true };

/** An nvidia-smi answering the queries the checks make. */
const smi = (cap: string, driverCuda: string) =>
  `case "$1" in
  --query-gpu=compute_cap) echo "${cap}" ;;
  --query-gpu=name) echo "NVIDIA H100 80GB HBM3" ;;
  *) echo "| NVIDIA-SMI 550.54.15   Driver Version: 550.54.15   CUDA Version: ${driverCuda} |" ;;
esac`;

/** A CUDA toolkit folder (bin/nvcc, include/cublas_v2.h unless told otherwise). */
const toolkit = (release: string, cublas = true): Record<string, string> => ({
  [`cuda-${release}/bin/nvcc`]: `echo "Cuda compilation tools, release ${release}, V${release}.1"`,
  ...(cublas ? { [`cuda-${release}/include/cublas_v2.h`]: "" } : {}),
});

Deno.test("tool checks: a complete CPU host has no problems and builds with ninja", async () => {
  const dir = await fakeTools(BASE);
  try {
    const r = await checkTools(CPU, { env: { PATH: dir } });
    assertEquals(r.problems, []);
    assertEquals(r.generator, "Ninja");
    assertEquals(r.cmakeVersion, "3.25.1");
    assertEquals(r.cxx, `${dir}/c++`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("tool checks: each missing tool is named with the package that installs it", async () => {
  const dir = await fakeTools({ tar: "true" });
  try {
    const r = await checkTools({ cuda: false, needNpm: true, needGit: true }, {
      env: { PATH: dir },
    });
    assertEquals(r.problems, [
      "cmake not found: apt-get install cmake",
      "no C++ compiler (looked for c++, g++, clang++ on PATH): apt-get install g++",
      "neither ninja nor make found: apt-get install ninja-build",
      "git not found (the npm package ships the source as a git bundle): apt-get install git",
      "npm not found, and the llama.cpp source is not cached: apt-get install npm, or on a " +
      "machine with network run `npm pack node-llama-cpp@3.21.1` and pass the .tgz with --source",
    ]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("tool checks: a --source problem is listed with the tools", async () => {
  const dir = await fakeTools(BASE);
  try {
    const r = await checkTools({ ...CPU, sourceProblem: "--source /x: no such file or folder" }, {
      env: { PATH: dir },
    });
    assertEquals(r.problems, ["--source /x: no such file or folder"]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("tool checks: make stands in for ninja, with a note; an old cmake is refused", async () => {
  const { ninja: _, ...rest } = BASE;
  const dir = await fakeTools({ ...rest, make: "true", cmake: `echo "cmake version 3.10.2"` });
  try {
    const r = await checkTools(CPU, { env: { PATH: dir } });
    assertEquals(r.generator, "Unix Makefiles");
    assertMatch(
      r.notes.join("\n"),
      /ninja not found, building with make \(apt-get install ninja-build/,
    );
    assertEquals(r.problems.length, 1);
    assertMatch(r.problems[0], /^cmake 3\.10\.2 is too old: this build needs 3\.14 or newer/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("tool checks: CUDA 12 host, architecture from nvidia-smi, nvcc from CUDA_HOME", async () => {
  const dir = await fakeTools({
    ...BASE,
    "nvidia-smi": smi("8.6", "12.4"),
    ...toolkit("12.4"),
  });
  try {
    const r = await checkTools({ ...CPU, cuda: true }, {
      env: { PATH: dir, CUDA_HOME: `${dir}/cuda-12.4` },
    });
    assertEquals(r.problems, []);
    assertEquals(r.cuda?.nvcc, `${dir}/cuda-12.4/bin/nvcc`);
    assertEquals([r.cuda?.version, r.cuda?.major], ["12.4", 12]);
    assertEquals(r.cuda?.archs, ["86"]);
    assertEquals(r.cuda?.gpus, ["NVIDIA H100 80GB HBM3"]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("tool checks: a CUDA 13 nvcc on a CUDA 12 driver is refused with the way out", async () => {
  const dir = await fakeTools({ ...BASE, "nvidia-smi": smi("9.0", "12.4"), ...toolkit("13.0") });
  try {
    const r = await checkTools({ ...CPU, cuda: true }, {
      env: { PATH: dir, CUDACXX: `${dir}/cuda-13.0/bin/nvcc` },
    });
    assertEquals(r.cuda?.archs, ["90a"]);
    assertEquals(r.problems, [
      `${dir}/cuda-13.0/bin/nvcc is CUDA 13.0, but the driver runs CUDA 12.4 at most: the build ` +
      `would not load here. Use a CUDA 12 toolkit (CUDACXX=/usr/local/cuda-12.x/bin/nvcc), or ` +
      `install a driver for CUDA 13 (580 or newer)`,
    ]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("tool checks: CUDA 13 cannot build for Volta; missing cuBLAS names its package", async () => {
  const dir = await fakeTools({ ...BASE, ...toolkit("13.0", false) });
  try {
    const r = await checkTools({ ...CPU, cuda: true, arch: "70" }, {
      env: { PATH: `${dir}/cuda-13.0/bin:${dir}` },
      cublasRoots: [`${dir}/pip`],
    });
    assertEquals(r.problems, [
      "CUDA 13.0 cannot build for compute capability below 7.5 (asked: 70): use a CUDA 12 " +
      "toolkit (CUDACXX=/usr/local/cuda-12.x/bin/nvcc)",
      `cuBLAS not found (no cublas_v2.h in ${dir}/cuda-13.0/include, nor under ${dir}/pip): ` +
      "apt-get install " +
      "libcublas-dev-13-0 (NVIDIA's repository)",
    ]);
    assertMatch(r.notes.join("\n"), /nvidia-smi not found: building for another host/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("tool checks: no nvcc, and no nvidia-smi without --arch, are both said", async () => {
  const dir = await fakeTools(BASE);
  try {
    const r = await checkTools({ ...CPU, cuda: true }, {
      env: { PATH: dir },
      cudaRoots: [],
    });
    assertEquals(r.problems.length, 2);
    assertMatch(
      r.problems[0],
      /^cannot tell the GPU architecture: nvidia-smi not found; pass --arch \(e\.g\. --arch 90a for H100/,
    );
    assertMatch(
      r.problems[1],
      /^nvcc not found \(looked at \$CUDACXX, PATH, \$CUDA_HOME\/bin, \/usr\/local\/cuda\/bin\): install the CUDA toolkit 12 or 13/,
    );
    const bad = await checkTools({ ...CPU, cuda: true, arch: "hopper" }, {
      env: { PATH: dir },
      cudaRoots: [],
    });
    assertMatch(bad.problems[0], /^--arch hopper: expected compute capabilities like 90a or 86/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("tool checks: an nvcc wrapper script leads to its toolkit (and its cuBLAS)", async () => {
  const dir = await fakeTools({ ...BASE, ...toolkit("12.8") });
  try {
    await Deno.writeTextFile(`${dir}/nvcc`, `#!/bin/sh\nexec ${dir}/cuda-12.8/bin/nvcc "$@"\n`);
    await Deno.chmod(`${dir}/nvcc`, 0o755);
    const r = await checkTools({ ...CPU, cuda: true, arch: "89" }, { env: { PATH: dir } });
    assertEquals(r.problems, []);
    assertEquals(r.cuda?.nvcc, `${dir}/cuda-12.8/bin/nvcc`);
    assertEquals(r.cuda?.version, "12.8");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("tool checks: cuBLAS outside the toolkit (pip's wheel) is pointed at", async () => {
  const pip = "pip/site-packages/nvidia/cublas";
  const dir = await fakeTools({
    ...BASE,
    ...toolkit("12.8", false),
    [`${pip}/include/cublas_v2.h`]: "",
    [`${pip}/lib/libcublas.so.12`]: "",
    [`${pip}/lib/libcublasLt.so.12`]: "",
  });
  try {
    const r = await checkTools({ ...CPU, cuda: true, arch: "89" }, {
      env: { PATH: `${dir}/cuda-12.8/bin:${dir}` },
      cublasRoots: [`${dir}/pip`],
    });
    assertEquals(r.problems, []);
    const inc = `${dir}/${pip}/include`;
    assertEquals(r.cuda?.cublasFlags, [
      `-DCMAKE_CUDA_FLAGS=-I${inc}`,
      `-DCMAKE_CXX_FLAGS=-I${inc}`,
      `-DCUDA_cublas_LIBRARY=${inc}/../lib/libcublas.so.12`,
      `-DCUDA_cublasLt_LIBRARY=${inc}/../lib/libcublasLt.so.12`,
    ]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("tool output parsers", () => {
  assertEquals(parseCmakeVersion("cmake version 3.25.1\n\nCMake suite"), [3, 25, 1]);
  assertEquals(parseCmakeVersion("nothing"), null);
  assertEquals(parseNvccVersion("Cuda compilation tools, release 13.0, V13.0.88"), "13.0");
  assertEquals(parseDriverCuda("Driver Version: 580.65.06      CUDA Version: 13.0  |"), "13.0");
  assertEquals(archsFromComputeCaps("9.0\n9.0\n8.6\n"), ["86", "90a"]);
  assertEquals(archsFromComputeCaps("12.0\n"), ["120"]);
  assertEquals(parseArch("86;90a"), ["86", "90a"]);
  assertEquals(parseArch("120a,89"), ["120a", "89"]);
  assert(parseArch("sm_90") === null);
});
