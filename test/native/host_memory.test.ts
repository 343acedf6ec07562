/**
 * The host allocation limit follows the cgroup's memory limit, not only physical memory: in a container
 * limited below physical memory, an allocation above the limit fails with ERR_OOM instead of being
 * granted by overcommit and the process being OOM-killed when the pages are touched.
 *
 * Real cgroup, real kernel: as root, a child cgroup with a 1 GiB limit is made under this process's own
 * memory cgroup (v1 or v2) and a child Node process runs inside it. Skipped with the reason when this
 * machine does not let us make one (not root, read-only cgroupfs, v2 without the memory controller).
 */
import t from 'tap';
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { torch } from '../../lib/tensor';
import { CHILD_TIMEOUT_MS } from '../helpers/wait';

const GiB = 1024 ** 3;

t.test('the limit is reported and is at most physical memory', async (t) => {
  const lim = torch.memory().hostLimit;
  t.ok(lim.bytes > 0);
  t.ok(lim.bytes <= os.totalmem() || lim.source === 'SOCIAL_MAE_MAX_ALLOC_BYTES', `${lim.bytes} (${lim.source})`);
  t.type(lim.source, 'string');
});

/** Makes a child cgroup limited to `limit` bytes; returns its directory, or the reason it cannot. */
function makeCgroup(limit: number): { dir: string } | { skip: string } {
  if (process.getuid?.() !== 0) return { skip: 'needs root to make a cgroup' };
  const lines = fs.readFileSync('/proc/self/cgroup', 'utf8').trim().split('\n');
  const name = `social-mae-test-${process.pid}`;
  const v1 = lines.map((l) => l.split(':')).find(([, c]) => c.split(',').includes('memory'));
  try {
    if (v1 && fs.existsSync('/sys/fs/cgroup/memory')) {
      const own = path.join('/sys/fs/cgroup/memory', v1[2]);
      const dir = path.join(fs.existsSync(own) ? own : '/sys/fs/cgroup/memory', name);
      fs.mkdirSync(dir);
      fs.writeFileSync(path.join(dir, 'memory.limit_in_bytes'), String(limit));
      return { dir };
    }
    const v2 = lines.find((l) => l.startsWith('0::'));
    const root = fs.existsSync('/sys/fs/cgroup/cgroup.controllers') ? '/sys/fs/cgroup' : null;
    if (!v2 || !root) return { skip: 'no memory cgroup on this machine' };
    const parent = path.join(root, v2.slice(3));
    if (!fs.readFileSync(path.join(parent, 'cgroup.subtree_control'), 'utf8').includes('memory')) {
      fs.writeFileSync(path.join(parent, 'cgroup.subtree_control'), '+memory');
    }
    const dir = path.join(parent, name);
    fs.mkdirSync(dir);
    fs.writeFileSync(path.join(dir, 'memory.max'), String(limit));
    return { dir };
  } catch (e) {
    return { skip: `cannot make a cgroup here: ${(e as Error).message}` };
  }
}

const CHILD = `
const { torch } = require(${JSON.stringify(path.join(__dirname, '../../lib/tensor'))});
const out = { limit: torch.memory().hostLimit };
const tryAlloc = (f) => { try { f(); return 'ok'; } catch (e) { return e.code + ': ' + e.message; } };
out.small = tryAlloc(() => torch.zeros([64 * 1024 * 1024]).dispose());          // 256 MiB
out.create = tryAlloc(() => torch.zeros([512 * 1024 * 1024]));                  // 2 GiB, shape check
out.grow = tryAlloc(() => torch.zeros([1024]).repeat([512 * 1024]));           // 2 GiB, allocator guard
process.stdout.write(JSON.stringify(out));
`;

const cg = makeCgroup(GiB);
t.test('a 2 GiB tensor in a 1 GiB cgroup fails with ERR_OOM; 256 MiB works', { skip: 'skip' in cg ? cg.skip : false }, async (t) => {
  if ('skip' in cg) return;
  try {
    const r = spawnSync('sh', ['-c', `echo $$ > ${cg.dir}/cgroup.procs && exec "$0" -e "$1"`, process.execPath, CHILD], {
      encoding: 'utf8',
      timeout: CHILD_TIMEOUT_MS,
      killSignal: 'SIGKILL',
    });
    t.equal(r.status, 0, `child exited normally (signal ${r.signal}; stderr ${r.stderr.slice(-500)})`);
    const out = JSON.parse(r.stdout);
    t.equal(out.limit.bytes, GiB, 'the cgroup limit is the host limit');
    t.match(out.limit.source, /^cgroup v[12] /);
    t.equal(out.small, 'ok');
    t.match(out.create, /^ERR_OOM: .*exceeds the memory limit of 1(\.0+)? GiB \(cgroup/);
    t.match(out.grow, /^ERR_OOM: .*not enough memory/);
  } finally {
    fs.rmdirSync(cg.dir);
  }
});
