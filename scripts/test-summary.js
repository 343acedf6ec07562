#!/usr/bin/env node
'use strict';
// Reads a tap run's TAP output (file argument or stdin) and prints `N passed, N failed[, N skipped]`
// from tap's own final count line (`# { total: T, pass: P, fail: F, skip: S }`). Exits 1 when the run
// failed or no count line is present (a crashed run is a failed run).
const fs = require('fs');
const text = fs.readFileSync(process.argv[2] || 0, 'utf8');
const lines = text.split('\n').filter((l) => /^# \{ total: \d+/.test(l));
if (lines.length === 0) {
  process.stdout.write('0 passed, 1 failed\n');
  process.exit(1);
}
const last = lines[lines.length - 1];
const get = (k) => Number((last.match(new RegExp(`${k}: (\\d+)`)) || [])[1] || 0);
const pass = get('pass'), fail = get('fail'), skip = get('skip') + get('todo');
process.stdout.write(`${pass} passed, ${fail} failed${skip ? `, ${skip} skipped` : ''}\n`);
process.exit(fail > 0 ? 1 : 0);
