#!/usr/bin/env bash
# README command 1: installs what a fresh Debian 12 lacks (as root; otherwise prints the apt line),
# runs npm ci (which compiles the addon and the TypeScript), then runs the demo job on the CPU with
# the bundled clips. `--deps-only` stops after the system packages (used by .ci/run).
set -euo pipefail
cd "$(dirname "$0")/.."

PKGS="libtorch-dev libgloo-dev libopenblas0-pthread ffmpeg libavformat-dev libavcodec-dev libavfilter-dev libswscale-dev libswresample-dev libavutil-dev pkg-config cmake g++ make ninja-build"
# The PyTorch peers used by parity/round-trip tests and benchmarks (never by the package itself).
[ "${1:-}" = "--deps-only" ] && PKGS="$PKGS procps python3-torch python3-torchaudio python3-torchvision python3-opencv python3-numpy python3-sklearn bc"
missing=""
for p in $PKGS; do
  dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"
done
if [ -n "$missing" ]; then
  if [ "$(id -u)" = "0" ]; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends $missing
  else
    echo "social-mae needs these Debian packages:$missing"
    echo "run: sudo apt-get install -y$missing"
    exit 1
  fi
fi
# Debian's default BLAS is the reference one (~56x slower); prefer OpenBLAS (pthread build).
if [ "$(id -u)" = "0" ] && [ -e /usr/lib/x86_64-linux-gnu/openblas-pthread/libblas.so.3 ]; then
  update-alternatives --set libblas.so.3-x86_64-linux-gnu /usr/lib/x86_64-linux-gnu/openblas-pthread/libblas.so.3 >/dev/null 2>&1 || true
  update-alternatives --set liblapack.so.3-x86_64-linux-gnu /usr/lib/x86_64-linux-gnu/openblas-pthread/liblapack.so.3 >/dev/null 2>&1 || true
fi
[ "${1:-}" = "--deps-only" ] && exit 0

npm ci
node dist/lib/cli/main.js demo "$@"
