#!/usr/bin/env bash
# One prepared run on a lent GPU machine (see bench/RESULTS.md for how it was called):
#   bench/gpu/device_run.sh check   build the addon against the machine's PyTorch (CUDA), smoke-test it,
#                                   run the PyTorch peer benchmark
#   bench/gpu/device_run.sh full    build, run the test suite with SOCIAL_MAE_TEST_DEVICE=cuda, run ours
#                                   and the PyTorch peer benchmark in the same run
#   bench/gpu/device_run.sh nccl    build, then bench/gpu/nccl_check.ts: ProcessGroupNCCL at world size 1
#                                   (collectives, DDP step = plain step, overhead vs the plain step); about
#                                   build time + 2 min; writes $OUT/nccl.json
# Node is taken from PATH or from .device/node.xz; node-api headers from .device/napi; test
# dependencies from .device/modules.tar.xz (the packages the tests load) and the compiled JS from
# .device/dist.tar.xz, both made by bench/gpu/pack_for_device.sh.
set -uo pipefail
mode=${1:-check}
OUT=${OUT:-/tmp/smae-out}
mkdir -p "$OUT"
exec > >(tee "$OUT/device.log") 2>&1
root=$(pwd)
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
if ! command -v node >/dev/null; then
  mkdir -p /tmp/nodebin && xz -dc .device/node.xz > /tmp/nodebin/node && chmod +x /tmp/nodebin/node
  export PATH=/tmp/nodebin:$PATH
fi
echo "node $(node --version)"
export PYTHON=$(command -v python3)
"$PYTHON" -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda)'
src=$root
[ "$mode" = check ] && src=$root/.device/src
start=$(date +%s)
cmake -S "$src" -B /tmp/smae-build -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_JS_INC="$root/.device/napi/include" 2>&1 | grep -E "social-mae|Error|error" 
cmake --build /tmp/smae-build -j 16 2>&1 | grep -E "error|FAILED|undefined reference" | head -80
echo "build: $(( $(date +%s) - start )) s"
addon=/tmp/smae-build/social_mae.node
[ -f "$addon" ] || { echo "BUILD FAILED"; exit 1; }
cp "$addon" "$OUT/social_mae-cuda.node" 2>/dev/null
export SOCIAL_MAE_ADDON=$addon
node -e '
const N = require(process.env.SOCIAL_MAE_ADDON);
console.log("addon", N.version(), "cuda", N.cudaIsAvailable(), N.cudaDeviceCount());
const a = N.randn([1024, 1024], 0, "cuda:0"); const b = N.matmul(a, a); N.cudaSynchronize();
console.log("matmul", N.describe(b));
N.setAutocast(true, 2); const c = N.matmul(a, a); N.setAutocast(false, 2); console.log("autocast bf16", N.describe(c));
const q = N.randn([2, 12, 784, 64], 2, "cuda:0"); console.log("sdpa", N.describe(N.scaledDotProductAttention(q, q, q, null, 0, false, null)));
console.log("memoryStats", N.cudaMemoryStats(0));
' || echo "SMOKE FAILED"
if [ "$mode" = nccl ]; then
  mkdir -p /tmp/mods && tar -xJf .device/modules.tar.xz -C /tmp/mods && tar -xJf .device/dist.tar.xz
  ln -sfn /tmp/mods/node_modules "$root/node_modules"
  node -e 'console.log("c10d backends", require(process.env.SOCIAL_MAE_ADDON).distBackends())'
  timeout 400 node dist/bench/gpu/nccl_check.js --steps ${STEPS:-8} --rounds 3 --batch ${NCCL_BATCH:-36} --out "$OUT/nccl.json" || echo "NCCL CHECK FAILED"
  echo "total: $(( $(date +%s) - start )) s"
  exit 0
fi
if [ "$mode" = full ]; then
  mkdir -p /tmp/mods dist "$OUT/tests" && tar -xJf .device/modules.tar.xz -C /tmp/mods && tar -xJf .device/dist.tar.xz
  ln -sfn /tmp/mods/node_modules "$root/node_modules"
  # Test files run one by one (tap's runner is not carried); media tests need ffmpeg: the static build
  # carried in modules.tar.xz (pack_for_device.sh) when there, else they are left out.
  media="-not -path dist/test/data/*"
  [ -x node_modules/@ffmpeg-installer/linux-x64/ffmpeg ] && media=""
  node -e 'try { console.log(require("./dist/lib/data").ffmpegConfig()) } catch (e) { console.log("no ffmpeg:", e.message) }'
  for f in $(find dist/test -name '*.test.js' $media | sort); do
    name=$(echo "${f#dist/test/}" | tr '/' '_')
    SOCIAL_MAE_TEST_DEVICE=cuda timeout 150 node "$f" > "$OUT/tests/$name.tap" 2>&1
    echo "$f: $(node scripts/test-summary.js "$OUT/tests/$name.tap")"
  done
  node scripts/test-summary.js --sum "$OUT"/tests/*.tap
  (cd "$OUT/tests" && tar -cJf ../tests-cuda.tar.xz *.tap && cd .. && rm -rf tests)
  timeout 300 node dist/bench/gpu/ours.js --steps ${STEPS:-8} --pretrain-batches ${OUR_BATCHES:-36,192} --out "$OUT/ours.json" || echo "OURS BENCH FAILED"
fi
timeout 300 "$PYTHON" bench/gpu/pytorch_socialmae.py --steps ${STEPS:-8} --pretrain-batches ${BATCHES:-36} --large-batch ${LARGE_BATCH:-192} --out "$OUT/pytorch.json" || echo "PYTORCH BENCH FAILED"
echo "total: $(( $(date +%s) - start )) s"
