#!/usr/bin/env bash
# GPU check: builds the addon against a CUDA libtorch beside build/ (which stays as it is), then on
# the GPU runs the numerics and architecture tests, two short `d2po run --device cuda` runs (whole
# policy; LoRA with gradient checkpointing) and the Llama half of the engine bench, and prints a
# summary. Meant to take a few minutes on one GPU.
#
#   LIBTORCH=/path/to/site-packages/torch PYTHON=/path/to/python bash scripts/gpu-check.sh
#
# LIBTORCH: a CUDA PyTorch's torch/ folder (include/ and lib/ with libtorch_cuda.so); PYTHON: the
# python that imports that torch (the bench's PyTorch side; default python3). Work goes to
# $GPU_CHECK_DIR (default a new temporary folder).
set -uo pipefail
cd "$(dirname "$0")/.."
: "${LIBTORCH:?set LIBTORCH to a CUDA PyTorch torch/ folder}"
PYTHON=${PYTHON:-python3}
WORK=${GPU_CHECK_DIR:-$(mktemp -d -t d2po-gpu-check-XXXX)}
NODE_GYP=${NODE_GYP:-$(npm prefix -g)/lib/node_modules/npm/node_modules/node-gyp/bin/node-gyp.js}
declare -a SUMMARY=()
FAILED=0

step() { # step NAME COMMAND...: runs it, logs to $WORK/NAME.log, records status and seconds
  local name=$1; shift
  local t0=$SECONDS
  echo "== $name"
  if "$@" >"$WORK/$name.log" 2>&1; then SUMMARY+=("ok    $name ($((SECONDS - t0)) s)")
  else SUMMARY+=("FAIL  $name ($((SECONDS - t0)) s): see $WORK/$name.log"); FAILED=1; fi
  tail -n 3 "$WORK/$name.log"
}

build() { # the addon's sources in their own folder, so that build/ is not touched
  mkdir -p "$WORK/src" && cp -r binding.gyp package.json native "$WORK/src/" && ln -sfn "$PWD/node_modules" "$WORK/src/node_modules"
  (cd "$WORK/src" && node native/check-libtorch.mjs && node "$NODE_GYP" rebuild -j "$(nproc)")
}
step build build
export D2PO_ADDON=$WORK/src/build/Release/d2po.node
step cuda-available node --import tsx -e "import { cudaAvailable, tensor } from './src/tensor/index.js';
if (!cudaAvailable()) throw new Error('the addon sees no CUDA device');
console.log('on the GPU:', tensor([1, 2, 3], { device: 'cuda' }).mul(2).device);"
step numerics env D2PO_TEST_DEVICE=cuda node --import tsx --test test/model-numerics.test.ts test/model-architectures.test.ts
RUN="--method d2po --task word-collector --model policy-base --gold-budget 24 --initial-gold 16 --rounds 1 --steps 4 --eval-every 2
     --set eval.prompts=16 --set eval.accuracyPairs=16 --device cuda --seed 1 --no-progress"
# shellcheck disable=SC2086
step run-full node bin/d2po.mjs run $RUN --out "$WORK/run-full"
# shellcheck disable=SC2086
step run-lora-ckpt node bin/d2po.mjs run $RUN --lora r=8,alpha=16,targets=c_attn --grad-checkpoint --out "$WORK/run-lora"
step bench-llama env BENCH_MODELS=llama BENCH_DEVICE=cuda BENCH_PYTHON="$PYTHON" node --import tsx bench/engine.ts

echo
echo "GPU check ($(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -1), logs in $WORK):"
printf '  %s\n' "${SUMMARY[@]}"
grep -h "llama_.*_vs_torch" "$WORK/bench-llama.log" 2>/dev/null | sed 's/^/  /'
exit $FAILED
