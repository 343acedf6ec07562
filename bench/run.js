#!/usr/bin/env node
'use strict';
// `npm run bench`: lists the benchmarks in bench/ (each a .ts file, compiled by tsc to dist/bench/);
// `npm run bench -- NAME [ARGS...]` runs one, `node dist/bench/NAME.js ARGS...`, after `npm run build:ts`
// when a .ts file under lib/ or bench/ is newer than the compiled benchmark. Results and commands of past
// runs: bench/RESULTS.md.
const fs = require('fs');
const path = require('path');
const { spawnSync } = require('child_process');

const ROOT = path.join(__dirname, '..');
const BENCH = path.join(ROOT, 'bench');

/** .ts files under dir (relative to dir, posix separators, sorted); `py/` and `results/` hold no benchmark. */
function tsFiles(dir, rel = '') {
  const out = [];
  for (const e of fs.readdirSync(path.join(dir, rel), { withFileTypes: true })) {
    const r = rel ? `${rel}/${e.name}` : e.name;
    if (e.isDirectory()) {
      if (!(dir === BENCH && ['py', 'results'].includes(r))) out.push(...tsFiles(dir, r));
    } else if (e.name.endsWith('.ts') && !e.name.endsWith('.d.ts')) out.push(r);
  }
  return out.sort();
}

/** The first sentence (or clause before a colon) of a file's leading doc comment, cut to about 100 characters. */
function summary(file) {
  const m = /^\/\*\*([\s\S]*?)\*\//.exec(fs.readFileSync(file, 'utf8'));
  if (!m) return '';
  const text = m[1]
    .replace(/^\s*\* ?/gm, '')
    .split(/\n\s*\n/)[0]
    .replace(/\s+/g, ' ')
    .trim();
  const end = text.search(/[.:](\s|$)/);
  const first = end >= 0 ? text.slice(0, end) : text;
  return first.length > 100 ? `${first.slice(0, first.lastIndexOf(' ', 99))} …` : first;
}

function usage() {
  const lines = ['usage: npm run bench -- NAME [ARGS...]   (ARGS go to the benchmark)', '', 'benchmarks:'];
  const names = tsFiles(BENCH).map((f) => f.replace(/\.ts$/, ''));
  const width = Math.max(...names.map((n) => n.length));
  for (const n of names) lines.push(`  ${n.padEnd(width)}  ${summary(path.join(BENCH, `${n}.ts`))}`);
  lines.push('', 'Each file header in bench/ gives its flags and protocol; bench/RESULTS.md records past runs.');
  return lines.join('\n');
}

/** Newest modification time of the .ts files under lib/ and bench/. */
function newestSource() {
  let t = 0;
  for (const dir of ['lib', 'bench']) for (const f of tsFiles(path.join(ROOT, dir))) t = Math.max(t, fs.statSync(path.join(ROOT, dir, f)).mtimeMs);
  return t;
}

function main(argv) {
  const [name, ...args] = argv;
  if (!name || name === '--help' || name === '-h') {
    console.log(usage());
    return 0;
  }
  const src = path.join(BENCH, `${name}.ts`);
  if (!fs.existsSync(src)) {
    console.error(`bench: no benchmark '${name}' (expected bench/${name}.ts)\n\n${usage()}`);
    return 2;
  }
  const out = path.join(ROOT, 'dist', 'bench', `${name}.js`);
  if (!fs.existsSync(out) || fs.statSync(out).mtimeMs < newestSource()) {
    console.error('bench: compiling (npm run build:ts)');
    const b = spawnSync('npm', ['run', '-s', 'build:ts'], { cwd: ROOT, stdio: 'inherit' });
    if (b.status !== 0) return b.status ?? 1;
  }
  const r = spawnSync(process.execPath, [out, ...args], { cwd: ROOT, stdio: 'inherit' });
  if (r.signal) process.kill(process.pid, r.signal);
  return r.status ?? 1;
}

process.exitCode = main(process.argv.slice(2));
