/**
 * `social-mae inspect` on crafted checkpoints (lib/cli/commands/inspect.ts): shared sub-objects are walked
 * once, cycles end, deep nesting and long listings are cut with a note, so a small file can neither hang
 * the command nor exhaust its heap.
 */
import t from 'tap';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { spawnSync } from 'child_process';
import { io } from '../../lib';
import { MAX_DEPTH, MAX_LINES } from '../../lib/cli/commands/inspect';

const MAIN = path.resolve(__dirname, '../../lib/cli/main.js');
/**
 * Kill limit for one inspect run. A fixed run takes about 1.5 s (mostly loading the addon); before the fix
 * the fan-out files below never finished, so any limit far above a normal run tells the two apart.
 */
const LIMIT_MS = 30_000;

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'smae-inspect-'));
t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));

/** Writes `tree` as a torch.save zip and runs `social-mae inspect` on it. */
async function inspect(name: string, tree: unknown) {
  const file = path.join(dir, `${name}.pt`);
  await io.writeCheckpointRaw(file, tree);
  const t0 = Date.now();
  const r = spawnSync(process.execPath, [MAIN, 'inspect', file], {
    encoding: 'utf8',
    timeout: LIMIT_MS,
    killSignal: 'SIGKILL',
    maxBuffer: 16 << 20,
    env: { ...process.env, SOCIAL_MAE_NUM_THREADS: '1' },
  });
  return { ...r, size: fs.statSync(file).size, ms: Date.now() - t0, lines: r.stdout.split('\n').filter((l) => l.length > 0) };
}

function tensor(): io.RawTensor {
  return new io.RawTensor({ storage: new io.RawStorage('0', 'float32', 2, new Uint8Array(8)), shape: [2] });
}

t.test('a list holding the same list twice, 40 levels deep (2^40 paths), is walked once per object', async (t) => {
  let l: unknown[] = [1];
  for (let i = 0; i < 40; i++) l = [l, l];
  const r = await inspect('fan_list', l);
  t.ok(r.size < 1000, `a small file (${r.size} bytes)`);
  t.equal(r.status, 0, `finished (in ${r.ms} ms; signal ${r.signal}) ${r.stderr}`);
  t.equal(r.lines.length, 42, 'one shared line per level and the summary');
  t.equal(r.lines.filter((x) => /\t\(shared, see /.test(x)).length, 40);
  t.match(r.stdout, /^1\t\(shared, see 0\)$/m);
  t.match(r.stdout, /^0 tensors, 0 elements$/m);
});

t.test('a shared tensor under 2^40 names is listed and counted once', async (t) => {
  let m: Map<string, unknown> = new Map([['w', tensor()]]);
  for (let i = 0; i < 40; i++)
    m = new Map([
      ['a', m],
      ['b', m],
    ]);
  const r = await inspect('fan_tensor', m);
  t.ok(r.size < 1500, `a small file (${r.size} bytes)`);
  t.equal(r.status, 0, `finished (in ${r.ms} ms; signal ${r.signal}) ${r.stderr}`);
  t.match(r.stdout, new RegExp(`^${'a.'.repeat(40)}w\tfloat32\t\\[2\\]$`, 'm'));
  t.match(r.stdout, /^b\t\(shared, see a\)$/m);
  t.match(r.stdout, /^1 tensors, 2 elements$/m);
  t.equal(r.lines.length, 43);
});

t.test('cycles end', async (t) => {
  const c: unknown[] = [];
  c.push(c, { self: c, w: tensor() });
  const r = await inspect('cycle', c);
  t.equal(r.status, 0, `finished (in ${r.ms} ms; signal ${r.signal}) ${r.stderr}`);
  t.match(r.stdout, /^0\t\(shared, see the top level\)$/m);
  t.match(r.stdout, /^1\.self\t\(shared, see the top level\)$/m);
  t.match(r.stdout, /^1\.w\tfloat32\t\[2\]$/m);
  t.match(r.stdout, /^1 tensors, 2 elements$/m);
});

t.test('deep nesting and long listings are cut with a note', async (t) => {
  let deep: unknown = tensor();
  for (let i = 0; i < MAX_DEPTH + 10; i++) deep = [deep];
  const w = tensor();
  const many = Array.from({ length: MAX_LINES + 5 }, () => w);
  const r = await inspect(
    'deep_and_long',
    new Map<string, unknown>([
      ['deep', deep],
      ['many', many],
    ]),
  );
  t.equal(r.status, 0, `finished (in ${r.ms} ms; signal ${r.signal}) ${r.stderr}`);
  t.match(r.stdout, /^1 tensors nested deeper than \d+ levels are counted but not listed$/m);
  t.match(r.stdout, /^many\.0\tfloat32\t\[2\]$/m);
  t.match(r.stdout, new RegExp(`^\\.\\.\\. 5 more lines not shown \\(at most ${MAX_LINES.toLocaleString('en')} are printed\\)$`, 'm'));
  t.match(r.stdout, /^2 tensors, 4 elements$/m);
  t.equal(r.lines.length, MAX_LINES + 4, 'the capped lines, the two notes and the summary');
});
