#!/usr/bin/env bash
# Packs the package (with a fresh prebuild), installs the tarball into an empty folder and loads it
# there without compiling: proves the prebuilt addon is used. Prints the install time.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cd "$root"
npm pack --silent --pack-destination "$work" >/dev/null
tarball="$(ls "$work"/social-mae-*.tgz)"
tar tzf "$tarball" > "$work/list"
grep -q 'prebuilds/.*/social-mae.*\.node$' "$work/list" || { echo "no prebuilt addon in $tarball"; exit 1; }
mkdir "$work/app" && cd "$work/app"
npm init -y >/dev/null
start=$(date +%s.%N)
# --ignore-scripts: nothing may compile; the prebuild alone must load.
npm install --ignore-scripts --no-audit --no-fund "$tarball" >/dev/null
end=$(date +%s.%N)
[ ! -e node_modules/social-mae/build ] || { echo "unexpected build/ folder: something compiled"; exit 1; }
node -e 'const { torch } = require("social-mae"); const v = torch.ones([2]).add(1).tolist(); if (v[0] !== 2) process.exit(1); console.log("loaded prebuilt social-mae, LibTorch", torch.version())'
printf 'install time: %.1f s\n' "$(echo "$end - $start" | bc)"
