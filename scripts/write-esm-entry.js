#!/usr/bin/env node
'use strict';
// Writes dist/lib/index.mjs, the ES-module entry: it re-exports the CommonJS build's named exports so
// `import { torch } from 'social-mae'` and `require('social-mae')` share one module instance.
const fs = require('fs');
const path = require('path');
const dist = path.join(__dirname, '..', 'dist', 'lib');
const names = Object.keys(require(path.join(dist, 'index.js'))).filter((n) => n !== 'default' && n !== '__esModule');
const body = `import cjs from './index.js';\nexport const { ${names.join(', ')} } = cjs;\nexport default cjs;\n`;
fs.writeFileSync(path.join(dist, 'index.mjs'), body);
