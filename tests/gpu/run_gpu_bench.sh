#!/usr/bin/env bash
# Benchmarks the neuron engine on an NVIDIA GPU host that has no network: prompt and generation
# tok/s for one stream and for 8 concurrent ones, on a generated F16 model of Llama-3-8B shape
# (~14 GB), next to llama.cpp's own llama-batched-bench on the same model and settings.
# See tests/gpu/README.md. Usage:
#
#   tests/gpu/run_gpu_bench.sh          # GPU host, target under 8 minutes
#   tests/gpu/run_gpu_bench.sh --cpu    # any host: CPU build, tiny model (checks this script)
#
# Needs, checked first (each failure names what is missing and where it may come from):
#   GPU mode   nvidia-smi showing a GPU; to build: nvcc (CUDA 13), cmake, a C++ compiler
#   Deno       $DENO, else .gpu/deno.xz (unpacked into $WORK_DIR), else deno on PATH
#   llama.cpp  $LLAMA_LIB_DIR (libllama.so + libggml*.so, CUDA build in GPU mode), else built
#              here from .gpu/llama-src.tar.xz (llama.cpp v0.4.0 sources)
#   zod        the model generator's npm dependency: node_modules/zod, or the carried folder
#              node_modules/.deno/zod@<version> (linked into place here)
# Environment:
#   WORK_DIR    build, models, logs (default /tmp/cortex-gpu-bench; kept between runs, so a rerun
#               on the same machine skips the build and the model)
#   CUDA_ARCH   CMAKE_CUDA_ARCHITECTURES (default 90a: H100/H200)   JOBS  build jobs (nproc)
#   BENCH_ARGS  extra gpu_bench.ts flags, e.g. "--n-layer 16 --parallel 4"
#   PEER=0      skip llama-batched-bench      OUT  also copy results and logs there
set -euo pipefail

mode=gpu
case ${1:-} in
  --cpu) mode=cpu ;;
  "") ;;
  -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
  *) echo "usage: $0 [--cpu]" >&2; exit 2 ;;
esac

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
work=${WORK_DIR:-/tmp/cortex-gpu-bench}
jobs=${JOBS:-$(nproc)}
arch=${CUDA_ARCH:-90a}
peer=${PEER:-1}
read -r -a bench_args <<< "${BENCH_ARGS:-}"
[[ $mode == cpu ]] && bench_args=(--cpu "${bench_args[@]}")
export NO_COLOR=1 DENO_NO_UPDATE_CHECK=1
t0=$SECONDS

log() { printf '[%4ds] %s\n' $((SECONDS - t0)) "$*"; }
die() { printf '[%4ds] error: %s\n' $((SECONDS - t0)) "$*" >&2; exit 1; }

# run_phase NAME BUDGET_S LOG CMD...: runs CMD within a time budget and times it; its output
# goes to the file LOG (shown in part when it fails), or to the terminal when LOG is "-".
run_phase() {
  local name=$1 budget=$2 out=$3 t=$SECONDS rc=0
  shift 3
  log "$name (budget ${budget}s)"
  if [[ $out == - ]]; then
    timeout "$budget" "$@" || rc=$?
  else
    timeout "$budget" "$@" > "$out" 2>&1 || rc=$?
    ((rc == 0)) || { grep -m 20 -iE "error|fatal" "$out" || true; tail -n 25 "$out"; }
  fi
  ((rc == 124)) && die "$name took longer than its ${budget}s budget"
  ((rc == 0)) || die "$name failed (exit $rc)"
  log "$name: done in $((SECONDS - t))s"
}

mkdir -p "$work"
cd "$repo"
cublas_flags=()

# Results and logs go to $OUT however the run ends (a failed phase, a deadline).
copy_out() {
  [[ -n ${OUT:-} ]] || return 0
  mkdir -p "$OUT"
  cp "$work"/gpu_bench.json "$work"/*.log "$work"/peer.md "$OUT"/ 2> /dev/null || true
}
trap copy_out EXIT

# --- preflight: everything this run needs, before spending time on any of it --------------
if [[ $mode == gpu ]]; then
  command -v nvidia-smi > /dev/null ||
    die "nvidia-smi not found: this needs an NVIDIA GPU host with its driver (or run with --cpu)"
  gpus=$(nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader) ||
    die "nvidia-smi failed: the driver does not see a GPU"
  [[ -n $gpus ]] || die "nvidia-smi lists no GPU"
  log "GPU: ${gpus//$'\n'/; }"
fi

kind=$mode
[[ $mode == gpu ]] && kind=cuda-$arch
src=$work/llama-src
build=$work/build-$kind
if [[ -n ${LLAMA_LIB_DIR:-} ]]; then
  libdir=$LLAMA_LIB_DIR
  [[ -e $libdir/libllama.so || -e $libdir/libllama.v0.4.0.so ]] ||
    die "LLAMA_LIB_DIR=$libdir holds no libllama.so (or libllama.v0.4.0.so)"
  if [[ $mode == gpu ]] && ! compgen -G "$libdir/libggml-cuda*.so" > /dev/null; then
    die "LLAMA_LIB_DIR=$libdir holds no libggml-cuda*.so: not a CUDA build"
  fi
  build_libs=0
else
  libdir=$build/bin
  build_libs=1
  [[ -f .gpu/llama-src.tar.xz ]] || die "no llama.cpp: set LLAMA_LIB_DIR to a folder of built
       libraries, or put llama-src.tar.xz (llama.cpp v0.4.0 sources) in .gpu/ to build them here
       (/work/shared/tools/gpu/pack.sh makes it) and carry .gpu with the tree"
  command -v cmake > /dev/null || die "cmake not found: it is needed to build llama.cpp"
  command -v c++ > /dev/null || die "no C++ compiler (c++) to build llama.cpp"
  if [[ $mode == gpu ]]; then
    nvcc=$(command -v nvcc || echo /usr/local/cuda/bin/nvcc)
    [[ -x $nvcc ]] || die "nvcc not found (PATH, /usr/local/cuda/bin): the CUDA toolkit is needed"
    log "CUDA: $nvcc: $("$nvcc" --version | tail -n1)"
    # ggml-cuda needs cuBLAS; some images keep it outside the toolkit (pip's nvidia-cublas).
    cuda_inc=$(dirname "$nvcc")/../include
    if [[ ! -f $cuda_inc/cublas_v2.h ]]; then
      hdr=$(find /usr/local /usr/include /opt -name cublas_v2.h 2> /dev/null | head -n1)
      [[ -n $hdr ]] || die "no cublas_v2.h next to $nvcc or under /usr/local, /usr/include, /opt:
       the CUDA toolkit's cuBLAS headers are needed to build ggml-cuda"
      hdr_dir=$(dirname "$hdr")
      lib=$(find "$hdr_dir/.." "$hdr_dir/../.." -name 'libcublas.so*' 2> /dev/null | head -n1)
      liblt=$(find "$hdr_dir/.." "$hdr_dir/../.." -name 'libcublasLt.so*' 2> /dev/null | head -n1)
      log "cuBLAS outside the toolkit: $hdr_dir, ${lib:-no libcublas.so}, ${liblt:-no libcublasLt.so}"
      cublas_flags=("-DCMAKE_CUDA_FLAGS=-I$hdr_dir" "-DCMAKE_CXX_FLAGS=-I$hdr_dir")
      [[ -n $lib ]] && cublas_flags+=("-DCUDA_cublas_LIBRARY=$lib")
      [[ -n $liblt ]] && cublas_flags+=("-DCUDA_cublasLt_LIBRARY=$liblt")
    fi
  fi
fi

if [[ -n ${DENO:-} ]]; then
  [[ -x $DENO ]] || die "DENO=$DENO is not an executable file"
  deno=$DENO
elif [[ -f .gpu/deno.xz ]]; then
  deno=$work/deno
  if [[ ! -x $deno || .gpu/deno.xz -nt $deno ]]; then
    xz -dc .gpu/deno.xz > "$deno.tmp" && chmod +x "$deno.tmp" && mv "$deno.tmp" "$deno"
  fi
elif command -v deno > /dev/null; then
  deno=$(command -v deno)
else
  die "no Deno: set DENO=/path/to/deno, or put deno.xz (Deno 2.9.6, xz-compressed) in .gpu/
       (/work/shared/tools/gpu/pack.sh makes it) and carry .gpu with the tree"
fi
deno_version=$("$deno" --version | head -n1) || die "$deno does not run"
[[ $deno_version == *" 2.9.6 "* ]] || log "warning: expected Deno 2.9.6, found: $deno_version"
log "Deno: $deno ($deno_version)"

zod=$(grep -o '"npm:zod@[^"]*"' deno.json | tr -d '"') || die "deno.json imports no zod"
zod=${zod#npm:}
if [[ ! -f node_modules/zod/package.json ]]; then
  [[ -f node_modules/.deno/$zod/node_modules/zod/package.json ]] ||
    die "the model generator needs the npm package $zod and the registry is unreachable here:
       carry node_modules/.deno/$zod with the tree (8 MB), or run \`deno install\` elsewhere"
  ln -sfn ".deno/$zod/node_modules/zod" node_modules/zod
fi

# gpu_bench.ts resolves npm packages from node_modules only: no install attempts offline.
bench=("$deno" run --node-modules-dir=manual --allow-read --allow-write --allow-env --allow-ffi
  --allow-sys tests/gpu/gpu_bench.ts)

# --- model: generated in the background while llama.cpp builds ------------------------------
models=$work/models
log "model: generating in the background (log: $work/generate.log)"
timeout 300 "${bench[@]}" --generate-only --model-dir "$models" "${bench_args[@]}" \
  > "$work/generate.log" 2>&1 &
gen_pid=$!

# --- llama.cpp libraries --------------------------------------------------------------------
if ((build_libs)); then
  stamp=$(sha256sum .gpu/llama-src.tar.xz | cut -c1-16)
  if [[ $(cat "$src/.stamp" 2>/dev/null) != "$stamp" ]]; then
    rm -rf "$src" && mkdir -p "$src"
    tar -xJf .gpu/llama-src.tar.xz -C "$src" && echo "$stamp" > "$src/.stamp"
  fi
  # Only the libraries and llama-batched-bench; no network (no OpenSSL, UI, NCCL).
  flags=(-DCMAKE_BUILD_TYPE=Release -DBUILD_SHARED_LIBS=ON -DGGML_NATIVE=ON
    -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_SERVER=OFF
    -DLLAMA_BUILD_APP=OFF -DLLAMA_BUILD_TOOLS=ON -DLLAMA_BUILD_COMMON=ON -DLLAMA_OPENSSL=OFF
    -DGGML_CUDA_NCCL=OFF)
  if [[ $mode == gpu ]]; then
    flags+=(-DGGML_CUDA=ON "-DCMAKE_CUDA_ARCHITECTURES=$arch" "-DCMAKE_CUDA_COMPILER=$nvcc"
      "${cublas_flags[@]}")
  else
    flags+=(-DGGML_CUDA=OFF)
  fi
  generator=()
  command -v ninja > /dev/null && generator=(-G Ninja)
  targets=(llama)
  ((peer)) && targets+=(llama-batched-bench)
  budget=420
  [[ $mode == cpu ]] && budget=3600 # a 2-core dev box needs ~15 min
  run_phase "llama.cpp $kind configure" 120 "$work/configure.log" \
    cmake -S "$src" -B "$build" "${generator[@]}" "${flags[@]}"
  run_phase "llama.cpp $kind build (-j$jobs)" "$budget" "$work/build.log" \
    cmake --build "$build" -j "$jobs" --target "${targets[@]}"
fi
log "llama.cpp: $libdir: $(cd "$libdir" && ls libllama*.so libggml*.so 2>/dev/null | tr '\n' ' ')"

gen_t=$SECONDS
wait "$gen_pid" || { cat "$work/generate.log"; die "model generation failed or timed out (300s)"; }
cat "$work/generate.log"
log "model: ready (waited $((SECONDS - gen_t))s after the build)"

# --- the benchmark --------------------------------------------------------------------------
result=$work/gpu_bench.json
rm -f "$result"
run_phase "neuron engine benchmark" 240 - "${bench[@]}" --lib "$libdir" --model-dir "$models" \
  --json "$result" --deadline 230 "${bench_args[@]}"

# --- the same measurement by llama.cpp itself -----------------------------------------------
peer_bin=$libdir/llama-batched-bench
if ((peer)) && [[ -x $peer_bin ]]; then
  read -r model pp tg par nb threads < <("$deno" eval '
    const r = JSON.parse(Deno.readTextFileSync(Deno.args[0]));
    const o = r.options;
    console.log(r.model.path, o.prompt, o.gen, o.parallel, o.nBatch, o.threads);' "$result")
  ngl=99
  [[ $mode == cpu ]] && ngl=0
  # The neuron's contexts keep one KV stream per slot (no -kvu) with flash attention "auto".
  run_phase "llama-batched-bench (llama.cpp's own)" 120 "$work/peer.log" "$peer_bin" \
    -m "$model" -c $((par * (pp + tg) + 256)) -b "$nb" -ub "$nb" -npp "$pp" -ntg "$tg" \
    -npl "1,$par" -ngl "$ngl" -fa auto -t "$threads"
  grep -E '^\|' "$work/peer.log" | tee "$work/peer.md"
elif ((peer)); then
  log "llama-batched-bench: not in $libdir, no comparison (PEER=0 silences this)"
fi

log "all done in $((SECONDS - t0))s"
