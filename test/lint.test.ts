/**
 * Repository checks that CI runs through `npm test`: eslint and the formatter. Each is its own subtest
 * so a violation names the check that failed.
 */
import t from 'tap';
import { spawnSync } from 'child_process';
import * as path from 'path';

const ROOT = path.resolve(__dirname, '..', '..');
const TIMEOUT_MS = 240_000;

/** Runs a package's bin script with node in the repository root. */
function runBin(pkgBin: string, args: string[]) {
  return spawnSync(process.execPath, [path.join(ROOT, 'node_modules', pkgBin), ...args], {
    cwd: ROOT,
    encoding: 'utf8',
    timeout: TIMEOUT_MS,
    maxBuffer: 64 << 20,
  });
}

t.test('eslint', { timeout: TIMEOUT_MS + 10_000 }, async (t) => {
  const r = runBin('eslint/bin/eslint.js', ['.']);
  t.equal(r.signal, null, 'eslint finished in time');
  t.equal(r.status, 0, `eslint reports no problem (npm run lint)\n${r.stdout}${r.stderr}`);
});

t.test('formatting', { timeout: TIMEOUT_MS + 10_000 }, async (t) => {
  const r = runBin('prettier/bin/prettier.cjs', ['--check', '.']);
  t.equal(r.signal, null, 'prettier finished in time');
  t.equal(r.status, 0, `every file is formatted (npm run format)\n${r.stdout}${r.stderr}`);
});
