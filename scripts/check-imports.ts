/**
 * Import direction inside lib/ (docs/ARCHITECTURE.md, "Layers"): every folder of lib/ is a layer and
 * imports only the layers below it; lib/index.ts, the package entry, may import any of them.
 *
 *   npm run build:ts && node dist/scripts/check-imports.js [LIB_DIR]
 *
 * Prints one line per violation and exits with 1 when there is any. Module specifiers come from
 * TypeScript's own pre-parser (static and dynamic imports, `export ... from`, `require`), so examples in
 * comments are not mistaken for imports.
 */
import * as fs from 'fs';
import * as path from 'path';
import * as ts from 'typescript';

/** For each layer, the layers it may import (its own files always). */
export const ALLOWED: Readonly<Record<string, readonly string[]>> = {
  native: [],
  tensor: ['native'],
  nn: ['tensor', 'native'],
  optim: ['nn', 'tensor', 'native'],
  io: ['nn', 'tensor', 'native'],
  data: ['io', 'tensor', 'native'],
  models: ['nn', 'tensor', 'native'],
  distributed: ['nn', 'tensor', 'native'],
  train: ['models', 'optim', 'data', 'io', 'distributed', 'nn', 'tensor', 'native'],
  cli: ['train', 'models', 'optim', 'data', 'io', 'distributed', 'nn', 'tensor', 'native'],
};

/** The package entry: a file directly in lib/. */
const ROOT = '';

/** Layer of a path relative to lib/ (posix separators): its first folder, or ROOT for a file in lib/. */
export function layerOf(rel: string): string {
  const i = rel.indexOf('/');
  return i < 0 ? ROOT : rel.slice(0, i);
}

/**
 * Why importing `spec` from the file `fromRel` (relative to lib/) breaks the layering, or null if it
 * does not. Package imports (no leading '.') are not layers and pass.
 */
export function checkImport(fromRel: string, spec: string): string | null {
  if (!spec.startsWith('.')) return null;
  const from = layerOf(fromRel);
  const target = path.posix.normalize(path.posix.join(path.posix.dirname(fromRel), spec));
  if (target === '..' || target.startsWith('../')) return `${fromRel}: imports '${spec}', outside lib/`;
  const to = Object.hasOwn(ALLOWED, target) ? target : layerOf(target); // '../tensor' is the folder's index
  if (to === from) return null;
  if (from !== ROOT && !Object.hasOwn(ALLOWED, from)) return `${fromRel}: folder lib/${from} is not a layer (add it to ALLOWED in scripts/check-imports.ts)`;
  if (to === ROOT) return `${fromRel}: imports the package entry '${spec}'`;
  if (from === ROOT || ALLOWED[from].includes(to)) return null;
  return `${fromRel}: layer ${from} imports '${spec}' (layer ${to}); ${from} may import only ${ALLOWED[from].join(', ') || 'nothing'}`;
}

function sourceFiles(dir: string, rel = ''): string[] {
  const out: string[] = [];
  for (const e of fs.readdirSync(path.join(dir, rel), { withFileTypes: true })) {
    const r = rel ? `${rel}/${e.name}` : e.name;
    if (e.isDirectory()) out.push(...sourceFiles(dir, r));
    else if (/\.(ts|js|mjs|cjs)$/.test(e.name) && !e.name.endsWith('.d.ts')) out.push(r);
  }
  return out;
}

/** Every violation in the tree under libDir, one message each, sorted by file. */
export function checkTree(libDir: string): string[] {
  const out: string[] = [];
  for (const rel of sourceFiles(libDir).sort()) {
    const info = ts.preProcessFile(fs.readFileSync(path.join(libDir, rel), 'utf8'), true, true);
    for (const f of info.importedFiles) {
      const v = checkImport(rel, f.fileName);
      if (v) out.push(v);
    }
  }
  return out;
}

if (require.main === module) {
  const libDir = path.resolve(process.argv[2] ?? path.join(__dirname, '..', '..', 'lib'));
  const violations = checkTree(libDir);
  for (const v of violations) console.error(v);
  if (violations.length) process.exit(1);
  console.log(`imports: layering holds in ${libDir}`);
}
