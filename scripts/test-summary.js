#!/usr/bin/env node
'use strict';
// Prints `N passed, N failed[, N skipped]` from tap output and exits 1 when anything failed.
//   test-summary.js RUN.tap            the tap runner's output: its final `# { total, pass, fail, skip }` line
//   test-summary.js --sum A.tap B.tap  test files run one by one (`node file.test.js`): their count lines
//                                      are added up; a file without one (it crashed) counts as 1 failure
const fs = require('fs');

function counts(text) {
  const lines = text.split('\n').filter((l) => /^# \{ total: \d+/.test(l));
  if (lines.length === 0) return null;
  const last = lines[lines.length - 1];
  const get = (k) => Number((last.match(new RegExp(`${k}: (\\d+)`)) || [])[1] || 0);
  return { pass: get('pass'), fail: get('fail'), skip: get('skip') + get('todo') };
}

const args = process.argv.slice(2);
const sum = args[0] === '--sum';
const files = sum ? args.slice(1) : [args[0] || 0];
const total = { pass: 0, fail: 0, skip: 0 };
for (const f of files) {
  const c = counts(fs.readFileSync(f, 'utf8'));
  if (!c) {
    total.fail += 1;
    if (sum) process.stderr.write(`no test counts in ${f} (crashed?)\n`);
    continue;
  }
  total.pass += c.pass;
  total.fail += c.fail;
  total.skip += c.skip;
}
process.stdout.write(`${total.pass} passed, ${total.fail} failed${total.skip ? `, ${total.skip} skipped` : ''}\n`);
process.exit(total.fail > 0 ? 1 : 0);
