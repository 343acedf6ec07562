/**
 * Repository checks that CI runs through `npm test`: eslint, the formatter, import direction between the
 * layers of lib/ (scripts/check-imports.ts), and that binding.gyp and CMakeLists.txt build the same
 * native sources. Each is its own subtest so a violation names the check that failed.
 */
import t from 'tap';
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { checkImport, checkTree } from '../scripts/check-imports';

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

t.test('import direction', async (t) => {
  t.same(checkTree(path.join(ROOT, 'lib')), [], 'lib/ imports point down only');
  t.equal(checkImport('nn/layers.ts', '../tensor'), null, 'nn may import tensor');
  t.equal(checkImport('models/social_mae/encoder.ts', '../../nn'), null, 'models may import nn from a subfolder');
  t.equal(checkImport('tensor/tensor.ts', './dtype'), null, 'within a layer');
  t.equal(checkImport('index.ts', './train'), null, 'the package entry imports any layer');
  t.equal(checkImport('tensor/ops.ts', 'fs'), null, 'packages are not layers');
  t.match(checkImport('tensor/ops.ts', '../nn/module'), /layer tensor imports '\.\.\/nn\/module' \(layer nn\)/);
  t.match(checkImport('models/social_mae/x.ts', '../../train'), /layer models imports/);
  t.match(checkImport('data/cache.ts', '../models'), /layer data imports/);
  t.match(checkImport('nn/x.ts', '../index'), /package entry/);
  t.match(checkImport('nn/x.ts', '../../test/helpers'), /outside lib/);
  t.match(checkImport('extra/x.ts', '../tensor'), /lib\/extra is not a layer/);

  // A tree with an upward import, seen through the same parser as lib/ (a dynamic import and a require
  // count too; an import inside a comment does not).
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'smae-imports-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  fs.mkdirSync(path.join(dir, 'tensor'));
  fs.mkdirSync(path.join(dir, 'nn'));
  fs.writeFileSync(path.join(dir, 'nn', 'm.ts'), "import { x } from '../tensor';\nexport const y = x;\n");
  fs.writeFileSync(
    path.join(dir, 'tensor', 'a.ts'),
    "// import { no } from '../nn/m';\nexport const x = 1;\nexport const l = () => import('../nn/m');\nconst r = require('../nn');\n",
  );
  const v = checkTree(dir);
  t.equal(v.length, 2, v.join('\n'));
  t.match(v[0], /^tensor\/a\.ts: layer tensor imports '\.\.\/nn\/m'/);
  t.match(v[1], /^tensor\/a\.ts: layer tensor imports '\.\.\/nn'/);
});

/** Sorted .cc files under native/, relative to the root (what CMakeLists.txt's GLOB_RECURSE collects). */
function nativeSources(dir = 'native'): string[] {
  const out: string[] = [];
  for (const e of fs.readdirSync(path.join(ROOT, dir), { withFileTypes: true })) {
    const rel = `${dir}/${e.name}`;
    if (e.isDirectory()) out.push(...nativeSources(rel));
    else if (e.name.endsWith('.cc')) out.push(rel);
  }
  return out.sort();
}

t.test('binding.gyp and CMakeLists.txt build the same sources', async (t) => {
  const cmake = fs.readFileSync(path.join(ROOT, 'CMakeLists.txt'), 'utf8');
  t.match(cmake, /file\(GLOB_RECURSE SMAE_SOURCES CONFIGURE_DEPENDS \$\{CMAKE_SOURCE_DIR\}\/native\/\*\.cc\)/, 'CMake globs native/**/*.cc');
  const gyp = JSON.parse(fs.readFileSync(path.join(ROOT, 'binding.gyp'), 'utf8').replace(/^\s*#.*$/gm, ''));
  const gypSources: string[] = gyp.targets.flatMap((x: { sources?: string[] }) => x.sources ?? []);
  t.same([...gypSources].sort(), nativeSources(), 'binding.gyp lists exactly the .cc files under native/');
});
