/**
 * The cmake configuration and targets of a build. One tree per variant builds the shared
 * libraries the neuron loads and, when asked, the programs linked to those same libraries
 * (llama-server as the benchmark peer, rpc-server for split models), so all of them run the
 * same kernels. The configuration does not depend on which programs are asked for: adding
 * one later builds only what it needs.
 */

export interface CmakeSpec {
  generator: "Ninja" | "Unix Makefiles";
  cuda: { nvcc: string; archs: string[]; cublasFlags: string[] } | null;
  rpc: boolean;
}

export function cmakeFlags(s: CmakeSpec): string[] {
  const on = (b: boolean) => (b ? "ON" : "OFF");
  const flags = [
    "-G",
    s.generator,
    "-DCMAKE_BUILD_TYPE=Release",
    // Shared libraries for dlopen; backends linked into libggml.so (not GGML_BACKEND_DL), so
    // the folder needs no backend search and the programs link the very same libraries.
    "-DBUILD_SHARED_LIBS=ON",
    "-DGGML_BACKEND_DL=OFF",
    // The CPU code for this host's instruction set (the npm prebuilt picks a generic variant).
    "-DGGML_NATIVE=ON",
    `-DGGML_CUDA=${on(s.cuda !== null)}`,
    `-DGGML_RPC=${on(s.rpc)}`,
    // A release build reports "0.4.0", as the npm build does (a dev build says "0.4.0-dev").
    "-DLLAMA_BUILD_IS_DEV=OFF",
    "-DLLAMA_BUILD_TESTS=OFF",
    "-DLLAMA_BUILD_EXAMPLES=OFF",
    "-DLLAMA_BUILD_TOOLS=ON",
    "-DLLAMA_BUILD_SERVER=ON",
    "-DLLAMA_BUILD_APP=OFF",
    // Nothing is downloaded: no web UI, no HTTPS client.
    "-DLLAMA_BUILD_UI=OFF",
    "-DLLAMA_USE_PREBUILT_UI=OFF",
    "-DLLAMA_OPENSSL=OFF",
    // Libraries and programs find each other in their own folder wherever it is moved.
    "-DCMAKE_BUILD_WITH_INSTALL_RPATH=ON",
    "-DCMAKE_INSTALL_RPATH=$ORIGIN",
  ];
  if (s.cuda) {
    flags.push(
      `-DCMAKE_CUDA_COMPILER=${s.cuda.nvcc}`,
      `-DCMAKE_CUDA_ARCHITECTURES=${s.cuda.archs.join(";")}`,
      // NCCL is rarely installed and only helps multi-GPU all-reduce.
      "-DGGML_CUDA_NCCL=OFF",
      ...s.cuda.cublasFlags,
    );
  }
  return flags;
}

/** The programs a build may add beside the libraries. */
/** v0.4.0 names its RPC server target and binary ggml-rpc-server. */
export type Program = "llama-server" | "ggml-rpc-server";

/** The targets to build: the libraries always, each program only when asked for. */
export function buildTargets(programs: Program[]): string[] {
  return ["llama", ...new Set(programs)];
}

/** Ninja's "[12/336]" or make's "[ 45%]" at the start of a line → the fraction done. */
export function buildProgress(line: string): number | null {
  const ninja = /^\[(\d+)\/(\d+)\]/.exec(line);
  if (ninja) return Number(ninja[1]) / Number(ninja[2]);
  const make = /^\[\s*(\d+)%\]/.exec(line);
  return make ? Number(make[1]) / 100 : null;
}
