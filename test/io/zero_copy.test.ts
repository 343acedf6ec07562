/**
 * Storage memory on load and save:
 * - load reads (or inflates) each CPU storage straight into a tensor's memory (`allocStorage` +
 *   `hostView`), for every format, whole-file and piecewise, with the same checks and no leaks;
 * - save writes tensors that share a LibTorch storage (`storageInfo`) as one storage with offsets
 *   and strides, which Python's torch.load and our load both see as shared.
 */
import t from 'tap';
import * as fs from 'fs';
import * as path from 'path';
import { torch, Tensor } from '../../lib/tensor';
import { native } from '../../lib/native/binding';
import { load, save } from '../../lib/io';
import {
  PyOrderedDict,
  RawStorage,
  RawTensor,
  ZipReader,
  BufferSource,
  readCheckpointRaw,
  readCheckpointRawFile,
  serializeCheckpointRaw,
  serializeSafetensorsRaw,
  type RawValue,
} from '../../lib/io/core';
import { FIX, PT_FILES, dumpRaw, noTorchReason, py, pyDump, sha256, tmpDir, type DumpRow } from './helpers';
import { KNOWN_CODES, MUTATIONS, MUTATION_NAMES, loadSeeds, makeRng } from './fuzz_lib';

const live = (): number => torch.memory().liveTensors;
const storageId = (x: Tensor): number => native.storageInfo(x.id)[0];

/** Every tensor of a loaded tree (Maps, arrays, plain objects). */
const disposeTree = (x: unknown): void => torch.dispose(x);

/**
 * The dump rows (helpers.dumpRaw format) of a tree with Tensor leaves, with the tensors' own
 * strides and offsets; `parameter` is not tracked by Tensor and is nulled (on both sides).
 */
function dumpTensors(x: unknown): DumpRow[] {
  const rows: DumpRow[] = [];
  const walk = (p: string, v: unknown): void => {
    if (v instanceof Tensor) {
      const [row] = dumpRaw(RawTensor.fromBytes(v.dtype as never, v.shape, v.toBuffer()));
      rows.push([p, 'tensor', { ...(row[2] as object), stride: v.stride(), offset: v.storageOffset(), requires_grad: v.requiresGrad, parameter: null }]);
    } else if (v instanceof Map) {
      rows.push([p, v instanceof PyOrderedDict ? 'OrderedDict' : 'dict', v.size]);
      for (const [k, e] of v) walk(`${p}/${String(k)}`, e);
    } else if (Array.isArray(v)) {
      rows.push([p, Object.isFrozen(v) ? 'tuple' : 'list', v.length]);
      v.forEach((e, i) => walk(`${p}/${i}`, e));
    } else rows.push(...dumpRaw(v as RawValue).map(([q, k, i]) => [p + q, k, i] as DumpRow));
  };
  walk('', x);
  return rows;
}
const noParam = (rows: DumpRow[]): DumpRow[] => rows.map(([p, k, i]) => (k === 'tensor' ? [p, k, { ...(i as object), parameter: null }] : [p, k, i]));
const valuesOnly = (rows: DumpRow[]): DumpRow[] =>
  rows.map(([p, k, i]) => (k === 'tensor' ? [p, k, { ...(i as object), stride: null, offset: null, parameter: null }] : [p, k, i]));

t.test('raw readers: allocStorage memory receives the bytes (zip, legacy, safetensors; whole and piecewise)', async (t) => {
  const { dir, cleanup } = tmpDir();
  t.teardown(cleanup);
  const st = path.join(dir, 'x.safetensors');
  const sd = (await readCheckpointRaw(path.join(FIX, 'pos_embed.pt'))) as Map<string, RawTensor>;
  fs.writeFileSync(st, serializeSafetensorsRaw(sd));
  for (const file of [path.join(FIX, 'ft_state_dict.pt'), path.join(FIX, 'legacy_small.pt'), path.join(FIX, 'zip_p4_small.pt'), st]) {
    const expected = dumpRaw((await readCheckpointRawFile(file)).value);
    for (const wholeFileLimit of [undefined, 0]) {
      const given = new Map<RawStorage, Uint8Array>();
      let delivered = 0;
      let same = 0;
      const { value } = await readCheckpointRawFile(file, {
        wholeFileLimit,
        allocStorage: (s) => {
          const b = new Uint8Array(s.nbytes).fill(0xcd);
          given.set(s, b);
          return b;
        },
        onStorage: (s, bytes) => {
          delivered++;
          if (bytes === given.get(s)) same++;
        },
      });
      const name = `${path.basename(file)} (${wholeFileLimit === 0 ? 'piecewise' : 'whole'})`;
      t.same(dumpRaw(value), expected, `${name}: same tree and bytes`);
      t.ok(delivered > 0 && same === delivered, `${name}: all ${delivered} storages delivered in the memory handed out`);
    }
  }
  const zipFile = path.join(FIX, 'pos_embed.pt');
  await t.rejects(readCheckpointRawFile(zipFile, { allocStorage: (s) => new Uint8Array(s.nbytes + 1) }), {
    code: 'ERR_CHECKPOINT_INVALID',
    message: /allocStorage gave \d+ bytes/,
  });
  const { value } = await readCheckpointRawFile(zipFile, { allocStorage: () => undefined });
  t.same(dumpRaw(value), dumpRaw(await readCheckpointRaw(zipFile)), 'undefined: the reader allocates');
});

t.test('load: CPU storages read straight into tensors, every fixture, whole and piecewise; no leaks', async (t) => {
  const start = live();
  for (const f of PT_FILES) {
    const file = path.join(FIX, f);
    const expected = valuesOnly(dumpRaw(await readCheckpointRaw(file)));
    for (const wholeFileLimit of [undefined, 0]) {
      const tree = await load<Map<string, unknown>>(file, { mapLocation: 'cpu', wholeFileLimit });
      t.same(valuesOnly(dumpTensors(tree)), expected, `${f} (${wholeFileLimit === 0 ? 'piecewise' : 'whole'})`);
      disposeTree(tree);
    }
  }
  t.equal(live(), start, 'all tensors released');
});

t.test('load: a corrupt or truncated storage mid-file releases everything (piecewise)', async (t) => {
  const start = live();
  const { dir, cleanup } = tmpDir();
  t.teardown(cleanup);
  const tree = new Map<string, RawValue>(
    ['a', 'b', 'c', 'd'].map((k, i) => [k, RawTensor.fromBytes('float32', [250_000], new Uint8Array(1_000_000).fill(i + 1))] as [string, RawValue]),
  );
  const good = Buffer.from(serializeCheckpointRaw(tree));
  const crc = Buffer.from(good);
  crc[good.lastIndexOf(3) - 1000] ^= 0xff; // inside storage 'c'
  const f = path.join(dir, 'crc.pt');
  fs.writeFileSync(f, crc);
  await t.rejects(load(f, { wholeFileLimit: 0 }), { code: 'ERR_CHECKPOINT_CORRUPT', message: /CRC-32 mismatch/ });
  await t.rejects(load(crc), { code: 'ERR_CHECKPOINT_CORRUPT', message: /CRC-32 mismatch/ }, 'in memory too');
  const ok = await load<Map<string, Tensor>>(f, { wholeFileLimit: 0, verifyCrc: false });
  t.equal(ok.size, 4, 'verifyCrc: false loads it');
  disposeTree(ok);
  const cut = path.join(dir, 'cut.pt');
  fs.writeFileSync(cut, good.subarray(0, good.length - 100));
  await t.rejects(load(cut, { wholeFileLimit: 0 }), { code: 'ERR_CHECKPOINT_CORRUPT' });
  t.equal(live(), start, 'no tensors leaked');
});

/** Python files: views, deflated zip, legacy, and a legacy file with a storage view (view_metadata). */
const GEN = String.raw`
import sys, os, io, struct, pickle, collections, zipfile, torch
d = sys.argv[1]
base = torch.arange(24, dtype=torch.float32).reshape(4, 6)
views = collections.OrderedDict([
    ('base', base), ('row', base[1]), ('col', base[:, 2]), ('t', base.t()), ('narrow', base[1:3, 2:5]),
    ('step', base[::2, ::3]), ('same', base), ('other', torch.randn(3, 2).t()), ('empty', torch.zeros(0, 3)),
    ('h', torch.arange(6, dtype=torch.float16)), ('b', torch.tensor([True, False])), ('i', torch.arange(5))])
torch.save(views, os.path.join(d, 'views.pt'))
torch.save(views, os.path.join(d, 'views_legacy.pt'), _use_new_zipfile_serialization=False)
with zipfile.ZipFile(os.path.join(d, 'views.pt')) as src, zipfile.ZipFile(os.path.join(d, 'deflated.pt'), 'w', zipfile.ZIP_DEFLATED) as dst:
    for info in src.infolist():
        dst.writestr(info.filename, src.read(info.filename))
# legacy storage views, as very old PyTorch wrote them: ('storage', type, root_key, location, numel, (view_key, offset, numel))
class St:
    def __init__(self, key, numel, view=None): self.key, self.numel, self.view = key, numel, view
class T:
    def __init__(self, *a): self.a = a
    def __reduce__(self): return (torch._utils._rebuild_tensor_v2, self.a + (False, collections.OrderedDict()))
class P(pickle.Pickler):
    def persistent_id(self, o):
        return ('storage', torch.FloatStorage, o.key, 'cpu', o.numel, o.view) if isinstance(o, St) else None
root, v1 = St('0', 24), St('0', 24, ('v1', 6, 12))
obj = collections.OrderedDict([('base', T(root, 0, (4, 6), (6, 1))), ('slice', T(v1, 2, (2, 3), (3, 1))), ('whole', T(v1, 0, (12,), (1,)))])
with open(os.path.join(d, 'legacy_view.pt'), 'wb') as f:
    for x in [0x1950a86a20f9469cfc6c, 1001, dict(protocol_version=1001, little_endian=True, type_sizes=dict(short=2, int=4, long=4))]:
        pickle.dump(x, f, protocol=2)
    P(f, protocol=2).dump(obj)
    pickle.dump(['0'], f, protocol=2)
    f.write(struct.pack('<q', 24) + torch.arange(24, dtype=torch.float32).numpy().tobytes())
`;

t.test('load: Python files (views, deflated, legacy, legacy storage views) into tensors that share memory', { skip: noTorchReason() }, async (t) => {
  const start = live();
  const { dir, cleanup } = tmpDir();
  t.teardown(cleanup);
  py(GEN, [dir]);
  const files = ['views.pt', 'deflated.pt', 'views_legacy.pt', 'legacy_view.pt'];
  const expected = pyDump(files.map((f) => path.join(dir, f)));
  const zip = await ZipReader.open(new BufferSource(fs.readFileSync(path.join(dir, 'deflated.pt'))));
  t.ok(
    zip.entries.filter((e) => e.name.includes('/data/')).every((e) => e.method === 8),
    'deflated.pt really is deflated',
  );
  for (const f of files) {
    const exp = expected[path.join(dir, f)];
    t.notOk('error' in exp, `${f}: Python loads it`);
    for (const wholeFileLimit of [undefined, 0]) {
      const name = `${f} (${wholeFileLimit === 0 ? 'piecewise' : 'whole'})`;
      const m = await load<Map<string, Tensor>>(path.join(dir, f), { wholeFileLimit });
      // legacy storage views: Python's offsets are relative to the slice, ours to the root storage
      const cmp = f === 'legacy_view.pt' ? valuesOnly : noParam;
      t.same(cmp(dumpTensors(m)), cmp(exp as DumpRow[]), `${name}: values, strides and offsets as Python's`);
      const base = m.get('base')!;
      const shared = f === 'legacy_view.pt' ? ['slice', 'whole'] : ['row', 'col', 't', 'narrow', 'step', 'same'];
      t.ok(
        shared.every((k) => storageId(m.get(k)!) === storageId(base)),
        `${name}: ${shared.join(', ')} share the base's storage`,
      );
      if (f !== 'legacy_view.pt') t.not(storageId(m.get('other')!), storageId(base), `${name}: other tensors do not`);
      base.fill_(-1);
      const probe = f === 'legacy_view.pt' ? m.get('slice')! : m.get('narrow')!;
      t.ok(
        (probe.tolist() as number[][]).flat().every((v) => v === -1),
        `${name}: writes to the base show through the views`,
      );
      if (f === 'legacy_view.pt') t.same(probe.storageOffset(), 8, 'legacy slice: view offset 6 + tensor offset 2');
      disposeTree(m);
    }
  }
  t.equal(live(), start, 'no leaks');
});

t.test('save: tensors sharing a storage are written as one storage with offsets and strides', async (t) => {
  const start = live();
  const { dir, cleanup } = tmpDir();
  t.teardown(cleanup);
  const base = torch.tidy(() => torch.arange(24, undefined, 1, { dtype: 'float32' }).reshape(4, 6));
  const big = torch.arange(100, undefined, 1, { dtype: 'int64' });
  const sd = new Map<string, Tensor>([
    ['base', base],
    ['t', base.transpose(0, 1)],
    ['narrow', torch.tidy(() => base.narrow(0, 1, 2).narrow(1, 2, 3))],
    ['row', base.select(0, 2)],
    ['step', base.slice(1, 0, 6, 3)],
    ['flat', base.view(24)],
    ['other', torch.ones([3])],
    ['tail', big.narrow(0, 90, 4)],
    ['p', torch.zeros([2, 2]).requiresGrad_(true)],
  ]);
  const f = path.join(dir, 'shared.pt');
  await save(sd, f);
  const raw = (await readCheckpointRaw(f)) as Map<string, RawTensor>;
  const rb = raw.get('base')!;
  for (const k of ['t', 'narrow', 'row', 'step', 'flat']) {
    const r = raw.get(k)!;
    const v = sd.get(k)!;
    t.equal(r.storage, rb.storage, `${k}: one storage with the base`);
    t.same([r.shape, r.stride, r.storageOffset], [v.shape, v.stride(), v.storageOffset()], `${k}: size, stride and offset kept`);
    t.equal(sha256(r.contiguousBytes()), sha256(v.toBuffer()), `${k}: values`);
  }
  t.not(raw.get('other')!.storage, rb.storage);
  t.same([raw.get('tail')!.storage.numel, raw.get('tail')!.storageOffset], [100, 90], 'a slice writes its whole storage, as PyTorch does');
  t.ok(raw.get('p')!.requiresGrad);
  const zip = await ZipReader.open(new BufferSource(fs.readFileSync(f)));
  t.equal(zip.entries.filter((e) => e.name.startsWith('shared/data/')).length, 4, 'four storages: base, other, big, p');

  const back = await load<Map<string, Tensor>>(f);
  const id = storageId(back.get('base')!);
  t.ok(
    ['t', 'narrow', 'row', 'step', 'flat'].every((k) => storageId(back.get(k)!) === id),
    'our load shares them too',
  );
  for (const [k, v] of sd) t.ok(back.get(k)!.equal(v), `${k} equal after the round trip`);
  back.get('base')!.fill_(5);
  t.ok(
    (back.get('narrow')!.tolist() as number[][]).flat().every((v) => v === 5),
    'one memory',
  );
  disposeTree(back);

  // different devices or no sharing: each tensor by itself
  const solo = path.join(dir, 'solo.pt');
  await save(new Map([['a', sd.get('narrow')!]]), solo);
  const ra = (await readCheckpointRaw(solo)) as Map<string, RawTensor>;
  t.same([ra.get('a')!.storage.numel, ra.get('a')!.storageOffset, ra.get('a')!.stride], [24, 8, [6, 1]], 'a lone view keeps its storage');
  disposeTree(sd);
  big.dispose();
  t.equal(live(), start, 'no leaks');
});

t.test('save: Python torch.load sees the shared storage', { skip: noTorchReason() }, async (t) => {
  const start = live();
  const { dir, cleanup } = tmpDir();
  t.teardown(cleanup);
  const base = torch.tidy(() => torch.randn([4, 6]));
  const sd = new Map<string, Tensor>([
    ['base', base],
    ['t', base.transpose(0, 1)],
    ['narrow', torch.tidy(() => base.narrow(0, 1, 2).narrow(1, 2, 3))],
    ['row', base.select(0, 3)],
    ['other', torch.randn([2, 3])],
    ['h', torch.ones([4], { dtype: 'float16' })],
  ]);
  sd.set('h2', sd.get('h')!.narrow(0, 2, 2));
  const f = path.join(dir, 'ours.pt');
  await save(sd, f);
  const out = py(
    String.raw`
import sys, json, torch
sd = torch.load(sys.argv[1], weights_only=True)
def st(x): return x.untyped_storage() if hasattr(x, 'untyped_storage') else x.storage()
b = sd['base']
print(json.dumps({
  'storage_equal': {k: st(sd[k]).data_ptr() == st(b).data_ptr() for k in ['t', 'narrow', 'row', 'other']},
  'ptr_delta': {k: (sd[k].data_ptr() - b.data_ptr()) // 4 for k in ['t', 'narrow', 'row']},
  'layout': {k: [list(v.shape), list(v.stride()), v.storage_offset()] for k, v in sd.items()},
  'h_shared': st(sd['h2']).data_ptr() == st(sd['h']).data_ptr(),
  'write_through': (b.fill_(3.0), sd['narrow'].eq(3).all().item())[1],
  'sizes': {k: st(v).nbytes() if hasattr(st(v), 'nbytes') else st(v).size() * v.element_size() for k, v in sd.items()},
}))
`,
    [f],
  );
  const r = JSON.parse(out);
  t.same(r.storage_equal, { t: true, narrow: true, row: true, other: false }, 'untyped_storage() / storage() data_ptr equal for the views');
  t.same(r.ptr_delta, { t: 0, narrow: 8, row: 18 }, 'a.data_ptr() relations (in elements)');
  for (const [k, v] of sd) t.same(r.layout[k], [v.shape, v.stride(), v.storageOffset()], `${k}: shape, stride, offset in Python`);
  t.ok(r.h_shared, 'float16 views share too');
  t.ok(r.write_through, 'writing the base in Python changes the view');
  t.same([r.sizes.base, r.sizes.h2], [96, 8], 'storages are the whole LibTorch storages');
  const theirs = pyDump([f], true)[f] as DumpRow[];
  t.equal(theirs[0][1], 'OrderedDict');
  t.same(noParam(dumpTensors(sd)).slice(1), noParam(theirs).slice(1), 'values, strides and offsets equal');
  disposeTree(sd);
  t.equal(live(), start, 'no leaks');
});

t.test(
  'CUDA: GPU tensors sharing a storage are saved as one storage; CPU loads go through host memory',
  { skip: torch.cuda.isAvailable() ? false : 'CUDA is not available' },
  async (t) => {
    const start = live();
    const { dir, cleanup } = tmpDir();
    t.teardown(cleanup);
    const base = torch.tidy(() => torch.arange(24, undefined, 1, { dtype: 'float32' }).reshape(4, 6).to('cuda:0'));
    const sd = new Map<string, Tensor>([
      ['base', base],
      ['t', base.transpose(0, 1)],
      ['row', base.select(0, 1)],
    ]);
    const f = path.join(dir, 'gpu.pt');
    await save(sd, f);
    const raw = (await readCheckpointRaw(f)) as Map<string, RawTensor>;
    t.ok(raw.get('t')!.storage === raw.get('base')!.storage && raw.get('row')!.storage === raw.get('base')!.storage, 'one storage');
    t.equal(raw.get('base')!.storage.location, 'cuda:0');
    for (const mapLocation of ['cuda:0', 'cpu']) {
      const back = await load<Map<string, Tensor>>(f, { mapLocation, wholeFileLimit: 0 });
      t.ok(
        [...back.values()].every((v) => v.device === mapLocation),
        `on ${mapLocation}`,
      );
      t.ok(storageId(back.get('t')!) === storageId(back.get('base')!), `${mapLocation}: shared`);
      for (const [k, v] of sd) t.same(back.get(k)!.tolist(), v.tolist(), `${mapLocation}: ${k} equal`);
      disposeTree(back);
    }
    disposeTree(sd);
    t.equal(live(), start, 'no leaks');
  },
);

t.test('load (tensor level) on 1,000 mutated checkpoints: loads or a coded error, never a leak', async (t) => {
  const start = live();
  const seed = Number(process.env.SMAE_FUZZ_SEED ?? 20240611); // fixed default: 'some load' must not depend on the run
  const r = makeRng(seed);
  const seeds = await loadSeeds(FIX);
  const outcomes: Record<string, number> = {};
  const { dir, cleanup } = tmpDir();
  t.teardown(cleanup);
  const file = path.join(dir, 'case.pt');
  for (let i = 0; i < 1000; i++) {
    const name = MUTATION_NAMES[Math.floor(r() * MUTATION_NAMES.length)];
    const bytes = MUTATIONS[name](seeds[Math.floor(r() * seeds.length)], r);
    let outcome: string;
    try {
      let input: string | Uint8Array = bytes;
      if (r() < 0.3) {
        fs.writeFileSync(file, bytes);
        input = file;
      }
      const tree = await load(input, { mapLocation: 'cpu', verifyCrc: r() < 0.7, wholeFileLimit: 0 });
      disposeTree(tree);
      outcome = 'ok';
    } catch (e) {
      const code = (e as { code?: unknown }).code;
      outcome = e instanceof Error && typeof code === 'string' && KNOWN_CODES.has(code) ? code : `FAIL ${String(e)}`;
    }
    outcomes[outcome] = (outcomes[outcome] ?? 0) + 1;
  }
  t.comment(JSON.stringify({ seed, outcomes }));
  t.same(
    Object.keys(outcomes).filter((k) => k.startsWith('FAIL')),
    [],
    'every case loads or throws an Error with a known code',
  );
  t.ok((outcomes.ok ?? 0) > 0, 'some load');
  t.equal(live(), start, 'no tensors leaked');
});
