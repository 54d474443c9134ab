import { assert, assertEquals } from "../../../tests/assert.ts";
import { buildProgress, buildTargets, cmakeFlags } from "./cmake.ts";

const CPU = { generator: "Ninja" as const, cuda: null, rpc: false };

Deno.test("cmake flags: shared libraries with linked backends, native CPU, nothing downloaded", () => {
  const f = cmakeFlags(CPU);
  assertEquals(f.slice(0, 2), ["-G", "Ninja"]);
  for (
    const want of [
      "-DBUILD_SHARED_LIBS=ON",
      "-DGGML_BACKEND_DL=OFF",
      "-DGGML_NATIVE=ON",
      "-DGGML_CUDA=OFF",
      "-DGGML_RPC=OFF",
      "-DLLAMA_BUILD_IS_DEV=OFF",
      "-DLLAMA_OPENSSL=OFF",
      "-DLLAMA_USE_PREBUILT_UI=OFF",
      "-DCMAKE_INSTALL_RPATH=$ORIGIN",
    ]
  ) assert(f.includes(want), want);
  assert(!f.some((x) => x.includes("CUDA_ARCHITECTURES")));
});

Deno.test("cmake flags: CUDA with its compiler and architectures; RPC on", () => {
  const f = cmakeFlags({
    generator: "Unix Makefiles",
    cuda: { nvcc: "/usr/local/cuda-12.8/bin/nvcc", archs: ["86", "90a"], cublasFlags: [] },
    rpc: true,
  });
  assertEquals(f.slice(0, 2), ["-G", "Unix Makefiles"]);
  for (
    const want of [
      "-DGGML_CUDA=ON",
      "-DGGML_RPC=ON",
      "-DCMAKE_CUDA_COMPILER=/usr/local/cuda-12.8/bin/nvcc",
      "-DCMAKE_CUDA_ARCHITECTURES=86;90a",
      "-DGGML_CUDA_NCCL=OFF",
    ]
  ) assert(f.includes(want), want);
});

Deno.test("build targets: the libraries, plus only the programs asked for", () => {
  assertEquals(buildTargets([]), ["llama"]);
  assertEquals(buildTargets(["llama-server"]), ["llama", "llama-server"]);
  assertEquals(buildTargets(["ggml-rpc-server"]), ["llama", "ggml-rpc-server"]);
  assertEquals(buildTargets(["llama-server", "ggml-rpc-server", "llama-server"]), [
    "llama",
    "llama-server",
    "ggml-rpc-server",
  ]);
});

Deno.test("build progress from ninja and make lines", () => {
  assertEquals(buildProgress("[84/336] Building CXX object src/llama.cpp.o"), 0.25);
  assertEquals(buildProgress("[ 45%] Building CXX object"), 0.45);
  assertEquals(buildProgress("-- Configuring done"), null);
});
