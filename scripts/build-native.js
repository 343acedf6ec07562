#!/usr/bin/env node
'use strict';
// Builds the addon with cmake-js (primary); `--node-gyp` uses binding.gyp instead (fallback).
// Both read their LibTorch flags from scripts/torch-flags.js.
const { spawnSync } = require('child_process');
const os = require('os');
const path = require('path');
const { discover } = require('./torch-flags');

const root = path.join(__dirname, '..');
let torch;
try {
  torch = discover();
} catch (e) {
  process.stderr.write(`${e.message}\n`);
  process.exit(1);
}
process.stdout.write(`social-mae: building against LibTorch ${torch.version} from ${torch.source} (variant ${torch.variant})\n`);
const env = { ...process.env, CMAKE_BUILD_PARALLEL_LEVEL: String(os.cpus().length) };
const useGyp = process.argv.includes('--node-gyp');
const bin = (name) => require.resolve(name, { paths: [root] });
const args = useGyp
  ? [path.join(path.dirname(bin('node-gyp/package.json')), 'bin', 'node-gyp.js'), 'rebuild', `-j`, String(os.cpus().length)]
  : [path.join(path.dirname(bin('cmake-js/package.json')), 'bin', 'cmake-js'), 'compile'];
const r = spawnSync(process.execPath, args, { cwd: root, env, stdio: 'inherit' });
process.exit(r.status === null ? 1 : r.status);
