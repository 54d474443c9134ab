#!/usr/bin/env bash
# Builds llama-server from the llama.cpp release the neuron's prebuilt libraries come from
# (v0.4.0, inside npm's node-llama-cpp@3.21.1) into tests/bench/.peer/ (git-ignored), for
# `deno task bench agent`. CPU flags match the prebuilt "haswell" variant the neuron loads here
# (AVX2/FMA/F16C/BMI2, no AVX-512), so both run the same kernels. Needs cmake, ninja, a C++
# compiler and npm; about 25 minutes on 2 cores. Never run in CI.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
peer=$here/../.peer
mkdir -p "$peer"
if [[ ! -f $peer/llama-src/CMakeLists.txt ]]; then
  src=$(dirname "$(dirname "$("$here/../../../../shared/tools/llama-header.sh")")")
  cp -r "$src" "$peer/llama-src"
fi
cmake -S "$peer/llama-src" -B "$peer/build" -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DBUILD_SHARED_LIBS=OFF -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON \
  -DGGML_F16C=ON -DGGML_BMI2=ON -DGGML_AVX512=OFF -DGGML_CUDA=OFF -DLLAMA_BUILD_TESTS=OFF \
  -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_SERVER=ON -DLLAMA_BUILD_TOOLS=ON \
  -DLLAMA_BUILD_APP=OFF -DLLAMA_OPENSSL=OFF -DLLAMA_BUILD_UI=OFF -DLLAMA_USE_PREBUILT_UI=OFF
cmake --build "$peer/build" -j "$(nproc)" --target llama-server
echo "$peer/build/bin/llama-server"
