import t from 'tap';
import * as fs from 'fs';
import * as path from 'path';
import {
  PyOrderedDict,
  RawStorage,
  RawTensor,
  checkView,
  readCheckpointRaw,
  readCheckpointRawFile,
  serializeCheckpointRaw,
  writeCheckpointRaw,
  writeFileAtomic,
  type RawValue,
} from '../../lib/io/core';
import { copyFileAtomic } from '../../lib/io/atomic';
import { FIX, PT_FILES, dumpRaw, noTorchReason, py, rng, tmpDir } from './helpers';

t.test('every fixture: read -> write -> read is unchanged (memory and file)', async (t) => {
  const { dir, cleanup } = tmpDir();
  t.teardown(cleanup);
  for (const f of PT_FILES) {
    const value = await readCheckpointRaw(path.join(FIX, f));
    const before = dumpRaw(value);
    t.same(dumpRaw(await readCheckpointRaw(serializeCheckpointRaw(value))), before, `${f}: in memory`);
    const out = path.join(dir, f);
    await writeCheckpointRaw(out, value);
    t.same(dumpRaw(await readCheckpointRaw(out)), before, `${f}: through a file`);
    const again = await readCheckpointRaw(out);
    if (value instanceof PyOrderedDict) {
      t.ok(again instanceof PyOrderedDict, `${f}: still an OrderedDict`);
      t.same((again as PyOrderedDict).attributes, value.attributes, `${f}: _metadata kept`);
    }
  }
  t.same(
    fs.readdirSync(dir).filter((n) => n.endsWith('.tmp')),
    [],
    'no temporary files left',
  );
});

t.test('atomic writes: a failed save leaves the previous file intact', async (t) => {
  const { dir, cleanup } = tmpDir();
  t.teardown(cleanup);
  const file = path.join(dir, 'ckpt.pt');
  const good = new Map([['x', RawTensor.fromBytes('uint8', [3], Uint8Array.from([1, 2, 3]))]]);
  await writeCheckpointRaw(file, good);
  fs.chmodSync(file, 0o640);
  const before = fs.readFileSync(file);
  await t.rejects(writeCheckpointRaw(file, new Map([['bad', new Float32Array(2)]])), { code: 'ERR_CHECKPOINT_INVALID' });
  function* failing(): Generator<Uint8Array> {
    yield Buffer.alloc(1000, 1);
    throw Object.assign(new Error('disk on fire'), { code: 'EIO' });
  }
  await t.rejects(writeFileAtomic(file, failing()), { code: 'EIO' });
  t.same(fs.readFileSync(file), before, 'previous file unchanged');
  t.same(fs.readdirSync(dir), ['ckpt.pt'], 'no temporary files left');
  await writeCheckpointRaw(file, new Map([['y', RawTensor.fromBytes('uint8', [1], Uint8Array.from([9]))]]));
  t.equal(fs.statSync(file).mode & 0o777, 0o640, 'permissions of the replaced file are kept');
  t.ok(((await readCheckpointRaw(file)) as Map<string, RawValue>).has('y'));
  await t.rejects(readCheckpointRaw(path.join(dir, 'missing.pt')), { code: 'ENOENT' });
});

t.test('atomic copies: same bytes, kept permissions, nothing left behind on failure', async (t) => {
  const { dir, cleanup } = tmpDir();
  t.teardown(cleanup);
  const src = path.join(dir, 'a.pt');
  const dst = path.join(dir, 'best.pt');
  fs.writeFileSync(src, Buffer.from('first'));
  await copyFileAtomic(src, dst);
  t.same(fs.readFileSync(dst), Buffer.from('first'));
  fs.chmodSync(dst, 0o640);
  fs.writeFileSync(src, Buffer.from('second, longer'));
  await copyFileAtomic(src, dst);
  t.same(fs.readFileSync(dst), Buffer.from('second, longer'), 'replaced');
  t.equal(fs.statSync(dst).mode & 0o777, 0o640, 'permissions of the replaced file are kept');
  await t.rejects(copyFileAtomic(path.join(dir, 'missing.pt'), dst), { code: 'ENOENT' });
  t.same(fs.readFileSync(dst), Buffer.from('second, longer'), 'a failed copy leaves the previous file');
  t.same(fs.readdirSync(dir).sort(), ['a.pt', 'best.pt'], 'no temporary files left');
});

t.test('strided views: bounds checks and contiguous gathering', async (t) => {
  const n = 60;
  const s = new RawStorage('s', 'int16', n, new Uint8Array(new Int16Array(Array.from({ length: n }, (_, i) => i)).buffer));
  const gather = (shape: number[], stride: number[], offset: number): number[] => {
    const out: number[] = [];
    const idx = shape.map(() => 0);
    const total = shape.reduce((a, b) => a * b, 1);
    for (let k = 0; k < total; k++) {
      out.push(offset + idx.reduce((a, v, d) => a + v * stride[d], 0));
      for (let d = shape.length - 1; d >= 0; d--) {
        if (++idx[d] < shape[d]) break;
        idx[d] = 0;
      }
    }
    return out;
  };
  const r = rng(7);
  let checked = 0;
  for (let i = 0; i < 400; i++) {
    const nd = Math.floor(r() * 4);
    const shape = Array.from({ length: nd }, () => Math.floor(r() * 4));
    const stride = Array.from({ length: nd }, () => Math.floor(r() * 12));
    const offset = Math.floor(r() * 20);
    const expected = gather(shape, stride, offset);
    const fits = expected.every((e) => e < n);
    if (!fits) {
      t.throws(() => new RawTensor({ storage: s, shape, stride, storageOffset: offset }), { code: 'ERR_CHECKPOINT_CORRUPT' });
      continue;
    }
    const v = new RawTensor({ storage: s, shape, stride, storageOffset: offset });
    const b = Uint8Array.from(v.contiguousBytes());
    t.same([...new Int16Array(b.buffer)], expected, `shape [${shape}] stride [${stride}] offset ${offset}`);
    checked++;
  }
  t.ok(checked > 100, `${checked} views gathered`);
  const bad: [unknown[], unknown[], unknown][] = [
    [[2], [1], -1],
    [[2], [1], 1.5],
    [[2.5], [1], 0],
    [[2], [-1], 0],
    [[2, 2], [1], 0],
    [[2 ** 53], [1], 0],
    [new Array(65).fill(1), new Array(65).fill(1), 0],
    [[2 ** 30, 2 ** 30], [1, 1], 0],
    [['2'], [1], 0],
  ];
  for (const [shape, stride, off] of bad) {
    t.throws(
      () => checkView('x', shape, stride, off, 1e12),
      { code: 'ERR_CHECKPOINT_CORRUPT' },
      JSON.stringify([shape.length > 4 ? 'many dims' : shape, stride.length > 4 ? '' : stride, off]),
    );
  }
  t.doesNotThrow(() => checkView('x', [2 ** 20, 2 ** 20], [0, 0], 0, 1), 'expanded (stride 0) view of one element');
});

t.test('legacy files whose pickle exceeds the first read window', { skip: noTorchReason() }, async (t) => {
  const { dir, cleanup } = tmpDir();
  t.teardown(cleanup);
  const f = path.join(dir, 'many_legacy.pt');
  py(
    String.raw`
import sys, torch, collections
base = torch.arange(100.)
sd = collections.OrderedDict(('layer.%05d.weight_with_a_long_name' % i, base[i % 100:]) for i in range(20000))
sd['own'] = torch.ones(3)
torch.save(sd, sys.argv[1], _use_new_zipfile_serialization=False)`,
    [f],
  );
  t.ok(fs.statSync(f).size > 2 << 20, 'pickle larger than 2 MiB');
  for (const wholeFileLimit of [0, undefined]) {
    const { format, value } = await readCheckpointRawFile(f, { wholeFileLimit });
    t.equal(format, 'legacy');
    const m = value as Map<string, RawTensor>;
    t.equal(m.size, 20001);
    const last = m.get('layer.19999.weight_with_a_long_name')!;
    t.same([last.shape, last.storageOffset], [[1], 99]);
    t.equal(last.storage, m.get('layer.00000.weight_with_a_long_name')!.storage, 'one shared storage');
  }
});
