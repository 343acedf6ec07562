#!/usr/bin/env node
'use strict';
// `npm run prebuild`: builds the addon with prebuildify (driving cmake-js through a shim) into
// prebuilds/<variant>/ — one directory per LibTorch variant, e.g. prebuilds/cpu-torch1.13 — and
// restores build/Release for local use.
const fs = require('fs');
const path = require('path');
const { spawnSync } = require('child_process');
const { discover } = require('./torch-flags');

const root = path.join(__dirname, '..');
const torch = discover();
const out = path.join(root, 'prebuilds', torch.variant);
fs.rmSync(out, { recursive: true, force: true });
const prebuildify = path.join(path.dirname(require.resolve('prebuildify/package.json', { paths: [root] })), 'bin.js');
const r = spawnSync(process.execPath, [prebuildify, '--napi', '--strip', '--out', out, '--node-gyp', path.join(__dirname, 'prebuild-cmake-shim.js')], {
  cwd: root,
  stdio: 'inherit',
});
if (r.status !== 0) process.exit(r.status === null ? 1 : r.status);
const file = require('node-gyp-build').path(out);
fs.mkdirSync(path.join(root, 'build', 'Release'), { recursive: true });
fs.copyFileSync(file, path.join(root, 'build', 'Release', 'social_mae.node'));
process.stdout.write(`social-mae: prebuilt ${torch.variant} -> ${path.relative(root, file)}\n`);
