#!/usr/bin/env bash
# Prepares .device/ (git-ignored, carried to the GPU machine) for bench/gpu/device_run.sh full:
# node (xz), node-api headers, the compiled JS without maps/typings, and the node_modules packages
# the tests and benchmark load (found by tracing a few test files; whole package folders), including the
# static ffmpeg/ffprobe of @ffmpeg-installer/@ffprobe-installer (37 MB of the xz archive: mind the 64 MiB carry limit).
set -euo pipefail
cd "$(dirname "$0")/../.."
mkdir -p .device
[ -f .device/node.xz ] || xz -T2 -6 -c "$(command -v node)" > .device/node.xz
rm -rf .device/napi && mkdir -p .device/napi && cp -r node_modules/node-api-headers/include .device/napi/
npx tsc -p tsconfig.json && node scripts/write-esm-entry.js
find dist -name '*.js' -o -name '*.mjs' | tar -cJf .device/dist.tar.xz -T -
trace=$(mktemp)
cat > "$trace.js" <<'JS'
const Module = require('module'); const fs = require('fs');
const orig = Module._resolveFilename;
Module._resolveFilename = function (...a) { const r = orig.apply(this, a); if (r.includes('node_modules')) fs.appendFileSync(process.env.TRACE, r + '\n'); return r; };
JS
for f in dist/test/nn/module.test.js dist/test/io/fixtures.test.js dist/test/cuda/tensor_cuda.test.js; do
  [ -f "$f" ] && TRACE=$trace timeout 300 node -r "$trace.js" "$f" >/dev/null 2>&1 || true
done
node -e '
const fs = require("fs"), path = require("path");
// The static ffmpeg/ffprobe builds travel too (the GPU machine has no system ffmpeg): lib/data finds
// them through require.resolve (ffmpeg-env.ts, bundledBinary), so media tests and loaders run there.
const pkgs = new Set(["node_modules/node-gyp-build",
  "node_modules/@ffmpeg-installer/linux-x64", "node_modules/@ffprobe-installer/linux-x64"]);
for (const f of fs.readFileSync(process.argv[1], "utf8").split("\n").filter(Boolean)) {
  const rel = path.relative(process.cwd(), f).split("/");
  let end = rel.lastIndexOf("node_modules") + 2;
  if (rel[end - 1] && rel[end - 1].startsWith("@")) end++;
  pkgs.add(rel.slice(0, end).join("/"));
}
fs.writeFileSync(process.argv[1] + ".pkgs", [...pkgs].filter((p) => fs.existsSync(p)).join("\n") + "\n");
' "$trace"
tar -cJf .device/modules.tar.xz -T "$trace.pkgs"
rm -f "$trace" "$trace.js" "$trace.pkgs"
du -sh .device/*
