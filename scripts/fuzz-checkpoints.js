#!/usr/bin/env node
/**
 * Long checkpoint fuzzing run (on demand): node scripts/fuzz-checkpoints.js [cases=100000] [seed]
 *
 * Requires the compiled tree (npm run build:ts). Uses the mutations of test/io/fuzz_lib.ts on the
 * checkpoint fixtures in test/fixtures: every case must load or throw an Error with one of the
 * checkpoint layer's codes. Prints progress every 10,000 cases and a JSON summary at the end;
 * exits 1 if any case failed.
 */
'use strict';
const path = require('path');

const root = path.join(__dirname, '..');
let lib;
try {
  lib = require(path.join(root, 'dist', 'test', 'io', 'fuzz_lib.js'));
} catch (e) {
  console.error('fuzz-checkpoints: build first (npx tsc -p tsconfig.json):', e.message);
  process.exit(2);
}

const cases = Number(process.argv[2] || 100000);
const seed = Number(process.argv[3] || Date.now() % 1e9);
if (!Number.isInteger(cases) || cases <= 0 || !Number.isFinite(seed)) {
  console.error('usage: node scripts/fuzz-checkpoints.js [cases] [seed]');
  process.exit(2);
}

(async () => {
  const fix = path.join(root, 'test', 'fixtures');
  console.log(`fuzzing ${cases} cases, seed ${seed}`);
  const s = await lib.fuzz(fix, cases, seed, (done, sum) => {
    if (done % 10000 === 0) console.log(`  ${done} cases: ${JSON.stringify(sum.outcomes)}`);
  });
  const summary = {
    seed,
    cases: s.cases,
    outcomes: s.outcomes,
    byMutation: s.byMutation,
    slowestMs: Math.round(s.slowestMs),
    elapsedS: Math.round(s.elapsedMs / 100) / 10,
    failures: s.failures.length,
  };
  console.log(JSON.stringify(summary, null, 2));
  for (const f of s.failures) console.log(`FAIL ${f.mutation} on ${f.seed} (case ${f.caseIndex}): ${f.message}`);
  process.exit(s.failures.length || s.outcomes.FAIL || 0 ? 1 : 0);
})().catch((e) => {
  console.error(e);
  process.exit(1);
});
