#!/usr/bin/env node
'use strict';
// npm install hook. In a git checkout (development) or with SOCIAL_MAE_BUILD_FROM_SOURCE=1 it compiles
// the addon. Otherwise it uses the prebuilt addon of the LibTorch variant that loads here (one
// directory per variant under prebuilds/) and compiles only when none loads.
const fs = require('fs');
const path = require('path');
const { spawnSync } = require('child_process');

const root = path.join(__dirname, '..');

function build() {
  const r = spawnSync(process.execPath, [path.join(__dirname, 'build-native.js')], { cwd: root, stdio: 'inherit' });
  if (r.status !== 0) {
    process.stderr.write(
      'social-mae: native build failed. Install LibTorch (Debian 12: apt-get install libtorch-dev ' +
        'libopenblas0-pthread cmake g++), or set LIBTORCH, then run `npm rebuild social-mae`.\n',
    );
  }
  return r.status === null ? 1 : r.status;
}

/** Returns the variant whose prebuilt addon loads in a child process (a failed dlopen cannot hurt us). */
function loadablePrebuild() {
  const base = path.join(root, 'prebuilds');
  if (!fs.existsSync(base)) return null;
  for (const variant of fs.readdirSync(base).sort()) {
    const dir = path.join(base, variant);
    let file;
    try {
      file = require('node-gyp-build').path(dir);
    } catch {
      continue;
    }
    const r = spawnSync(process.execPath, ['-e', `require(${JSON.stringify(file)})`], { stdio: 'ignore' });
    if (r.status === 0) return variant;
    process.stdout.write(`social-mae: prebuilt ${variant} does not load here (its LibTorch is missing)\n`);
  }
  return null;
}

const dev = fs.existsSync(path.join(root, '.git')) || process.env.SOCIAL_MAE_BUILD_FROM_SOURCE === '1';
if (dev) process.exit(build());
const variant = loadablePrebuild();
if (variant) {
  process.stdout.write(`social-mae: using the prebuilt addon for ${variant}\n`);
  process.exit(0);
}
process.exit(build());
