#!/usr/bin/env bash
# Benchmarks the neuron engine on an NVIDIA GPU host that has no network: prompt and generation
# tok/s for one stream and for 8 concurrent ones, on a generated F16 model of Llama-3-8B shape
# (~14 GB), next to llama.cpp's own llama-batched-bench on the same model and settings; then,
# where the project's npm packages are installed, the neuron over HTTP against llama-server over
# HTTP at 1, 8 and 32 streams (`deno task bench neuron --against llama-server`). llama.cpp is
# built by the project's own command (cli/llama_build.ts, `deno task llama-build --cuda --peer`).
# See tests/gpu/README.md. Usage:
#
#   tests/gpu/run_gpu_bench.sh          # GPU host, target under 8 minutes
#   tests/gpu/run_gpu_bench.sh --cpu    # any host: CPU build, tiny model (checks this script)
#
# Needs, checked first (each failure names what is missing and where it may come from):
#   GPU mode   nvidia-smi showing a GPU; to build: nvcc (CUDA 12 or 13), cmake, a C++ compiler
#              (llama-build checks them and names what is missing)
#   Deno       $DENO, else .gpu/deno.xz (unpacked into $WORK_DIR), else deno on PATH
#   llama.cpp  $LLAMA_LIB_DIR (libllama.so + libggml*.so, CUDA build in GPU mode), else built
#              here by llama-build from .gpu/node-llama-cpp-3.21.1.tgz or .gpu/llama-src.tar.xz
#              (llama.cpp v0.4.0 sources), else from llama-build's cache / npm
#   zod        the model generator's npm dependency: node_modules/zod, or the carried folder
#              node_modules/.deno/zod@<version> (linked into place here)
# Environment:
#   WORK_DIR    build, models, logs (default /tmp/cortex-gpu-bench; kept between runs, so a rerun
#               on the same machine skips the build and the model)
#   LLAMA_CACHE llama-build's cache root (default $WORK_DIR/cache)
#   CUDA_ARCH   --arch for llama-build (default: the GPU's, from nvidia-smi)   JOBS  (nproc)
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
arch=${CUDA_ARCH:-}
peer=${PEER:-1}
cache=${LLAMA_CACHE:-$work/cache}
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

# Results and logs go to $OUT however the run ends (a failed phase, a deadline).
copy_out() {
  [[ -n ${OUT:-} ]] || return 0
  mkdir -p "$OUT"
  cp "$work"/gpu_bench.json "$work"/*.log "$work"/peer.md "$work"/serving.md "$OUT"/ 2> /dev/null || true
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

if [[ -n ${LLAMA_LIB_DIR:-} ]]; then
  libdir=$LLAMA_LIB_DIR
  [[ -e $libdir/libllama.so || -e $libdir/libllama.v0.4.0.so ]] ||
    die "LLAMA_LIB_DIR=$libdir holds no libllama.so (or libllama.v0.4.0.so)"
  if [[ $mode == gpu ]] && ! compgen -G "$libdir/libggml-cuda*.so*" > /dev/null; then
    die "LLAMA_LIB_DIR=$libdir holds no libggml-cuda*.so: not a CUDA build"
  fi
  build_libs=0
else
  build_libs=1
  source_args=()
  for f in .gpu/node-llama-cpp-3.21.1.tgz .gpu/llama-src.tar.xz; do
    [[ -f $f ]] && { source_args=(--source "$repo/$f"); break; }
  done
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

# --- llama.cpp libraries: the project's build command --------------------------------------
if ((build_libs)); then
  build_args=(--peer --jobs "$jobs" --cache-dir "$cache" "${source_args[@]}")
  [[ $mode == gpu ]] && build_args+=(--cuda)
  [[ -n $arch ]] && build_args+=(--arch "$arch")
  budget=480
  [[ $mode == cpu ]] && budget=3600 # a 2-core dev box needs ~15-25 min
  run_phase "llama-build ${build_args[*]}" "$budget" "$work/build.log" "$deno" run \
    --node-modules-dir=manual --allow-read --allow-write --allow-env --allow-run --allow-ffi \
    --allow-sys cli/llama_build.ts "${build_args[@]}"
  libdir=$(sed -n 's/^  libraries: //p' "$work/build.log" | tail -n1)
  [[ -d $libdir ]] || die "llama-build did not say where it installed the libraries"
  # llama-batched-bench is this script's own extra: built in llama-build's tree, linked to the
  # same libraries (their RUNPATH is $ORIGIN, so it runs from the build's bin/).
  tree=$cache/llama/v0.4.0/build/$(basename "$libdir")
  if ((peer)); then
    run_phase "llama-batched-bench build" 300 "$work/build-peer.log" \
      cmake --build "$tree" -j "$jobs" --target llama-batched-bench
    peer_bin=$tree/bin/llama-batched-bench
  fi
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
peer_bin=${peer_bin:-$libdir/llama-batched-bench}
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

# --- the neuron over HTTP against llama-server over HTTP, same build ------------------------
# A real neuron process needs the project's npm packages (`deno install` on a host with network,
# or node_modules carried); without them this comparison is skipped, with the reason.
if ((peer)) && [[ -x $libdir/llama-server ]]; then
  read -r model threads < <("$deno" eval '
    const r = JSON.parse(Deno.readTextFileSync(Deno.args[0]));
    console.log(r.model.path, r.options.threads);' "$result")
  serving=(--against llama-server --build "$libdir" --model "$model" --threads "$threads"
    --concurrency "${SERVING_STREAMS:-1,8,32}" --prompt-tokens 512 --max-tokens 128 --n-batch 2048
    --rounds "${SERVING_ROUNDS:-2}")
  [[ $mode == cpu ]] && serving=(--against llama-server --build "$libdir" --model "$model"
    --concurrency 1,4 --prompt-tokens 64 --max-tokens 16 --rounds 1)
  if [[ -f node_modules/commander/package.json && -f node_modules/@huggingface/jinja/package.json ]]; then
    run_phase "neuron vs llama-server over HTTP" 300 - "$deno" run --allow-read --allow-write \
      --allow-net --allow-env --allow-ffi --allow-run --allow-sys tests/bench/main.ts neuron \
      "${serving[@]}" | tee "$work/serving.md"
  else
    log "neuron vs llama-server over HTTP: skipped, the project's npm packages are not installed"
  fi
elif ((peer)); then
  log "llama-server: not in $libdir (LLAMA_LIB_DIR without it), no HTTP comparison"
fi

log "all done in $((SECONDS - t0))s"
