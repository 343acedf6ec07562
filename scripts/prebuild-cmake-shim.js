#!/usr/bin/env node
'use strict';
// prebuildify has no cmake-js backend: it calls this script in place of node-gyp (`--node-gyp`).
// The node-gyp arguments it passes are ignored; cmake-js builds build/Release/social_mae.node.
const { spawnSync } = require('child_process');
const path = require('path');
const r = spawnSync(process.execPath, [path.join(__dirname, 'build-native.js')], { stdio: 'inherit' });
process.exit(r.status === null ? 1 : r.status);
