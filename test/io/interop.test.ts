/**
 * PyTorch interop: files made by Python's torch.save (shared storages, views, non-contiguous
 * strides, nn.Parameter, every dtype, nested checkpoints, legacy format, pickle protocols 2-5,
 * pickled modules and hostile pickles) are read here, and files written here are read by Python's
 * torch.load. Skipped with a message when /usr/bin/python3 has no torch.
 */
import t from 'tap';
import * as fs from 'fs';
import * as path from 'path';
import {
  PyOrderedDict,
  RawTensor,
  ZipReader,
  BufferSource,
  readCheckpointRaw,
  readCheckpointRawFile,
  serializeCheckpointRaw,
  writeCheckpointRaw,
  type RawValue,
} from '../../lib/io/core';
import { dumpRaw, noTorchReason, py, pyDump, tmpDir, type DumpRow } from './helpers';

const skip = noTorchReason();

/** Writes the Python-side test files into sys.argv[1]. */
const GEN = String.raw`
import sys, os, io, collections, zipfile, torch
d = sys.argv[1]
torch.manual_seed(0)
base = torch.arange(24, dtype=torch.float32).reshape(4, 6)
views = collections.OrderedDict([
    ('base', base), ('row', base[1]), ('col', base[:, 2]), ('t', base.t()), ('narrow', base[1:3, 2:5]),
    ('step', base[::2, ::3]), ('expand', torch.tensor([1., 2.]).expand(3, 2)), ('same', base),
    ('empty', torch.zeros(0, 3)), ('scalar', torch.tensor(7.5)), ('perm', torch.randn(2, 3, 4).permute(2, 0, 1)),
])
dtypes = {str(dt)[6:]: (torch.arange(-3, 9).reshape(3, 4) % 5).to(dt) for dt in [
    torch.float32, torch.float64, torch.float16, torch.bfloat16, torch.int64, torch.int32, torch.int16,
    torch.int8, torch.uint8, torch.bool]}
dtypes['float32_rand'] = torch.randn(5, 7)
params = {'p': torch.nn.Parameter(torch.randn(3)), 'q': torch.nn.Parameter(torch.ones(2), requires_grad=False),
          'g': torch.randn(2).requires_grad_()}
lin = torch.nn.Linear(3, 2)
opt = torch.optim.Adam(lin.parameters(), lr=1e-3)
lin(torch.randn(4, 3)).sum().backward()
opt.step()
nested = {'model': lin.state_dict(), 'optimizer': opt.state_dict(), 'epoch': 5, 'best': 0.25, 'name': 'run-\u00e9',
          'flags': [True, False, None], 'tup': (1, 2, (3, 'x')), 'big': 2**70, 'neg': -3, 'bigneg': -2**40,
          'blob': b'\x00\x01abc', 'empty_blob': b'', 'size': torch.Size([2, 3]), 'intkeys': {1: 'a', -2: 'b'}}
torch.save(views, os.path.join(d, 'views.pt'))
torch.save(dtypes, os.path.join(d, 'dtypes.pt'))
torch.save(params, os.path.join(d, 'params.pt'))
torch.save(nested, os.path.join(d, 'nested.pt'))
torch.save(lin.state_dict(), os.path.join(d, 'linear_sd.pt'))
for name, obj in [('views', views), ('dtypes', dtypes), ('params', params), ('nested', nested)]:
    torch.save(obj, os.path.join(d, name + '_legacy.pt'), _use_new_zipfile_serialization=False)
for p in [3, 4, 5]:
    torch.save(nested, os.path.join(d, 'nested_p%d.pt' % p), pickle_protocol=p)
    torch.save(views, os.path.join(d, 'views_legacy_p%d.pt' % p), pickle_protocol=p, _use_new_zipfile_serialization=False)
buf = io.BytesIO()
torch.save(views, buf)
open(os.path.join(d, 'from_buffer.pt'), 'wb').write(buf.getvalue())
# the same archive re-zipped with deflate (torch itself never compresses, other tools might)
with zipfile.ZipFile(os.path.join(d, 'views.pt')) as src, zipfile.ZipFile(os.path.join(d, 'deflated.pt'), 'w', zipfile.ZIP_DEFLATED) as dst:
    for info in src.infolist():
        dst.writestr(info.filename, src.read(info.filename))
# forbidden content
seq = torch.nn.Sequential(torch.nn.Linear(2, 2))
torch.save(seq, os.path.join(d, 'sequential.pt'))
torch.save(seq, os.path.join(d, 'sequential_legacy.pt'), _use_new_zipfile_serialization=False)
class Evil:
    def __reduce__(self):
        return (os.system, ('echo pwned',))
torch.save({'x': Evil()}, os.path.join(d, 'evil.pt'))
torch.save({'x': Evil()}, os.path.join(d, 'evil_legacy.pt'), _use_new_zipfile_serialization=False)
torch.save({'d': torch.device('cpu')}, os.path.join(d, 'device.pt'))
`;

const FORBIDDEN: [string, RegExp][] = [
  ['sequential.pt', /this file contains a pickled `torch\.nn\.modules\.container\.Sequential`; save `model\.state_dict\(\)` instead/],
  ['sequential_legacy.pt', /this file contains a pickled `torch\.nn\.modules\.container\.Sequential`; save `model\.state_dict\(\)` instead/],
  ['evil.pt', /`posix\.system`/],
  ['evil_legacy.pt', /`posix\.system`/],
  ['device.pt', /`torch\.device`/],
];

t.test('files written by Python torch.save', { skip }, async (t) => {
  const { dir, cleanup } = tmpDir();
  t.teardown(cleanup);
  py(GEN, [dir]);
  const files = fs
    .readdirSync(dir)
    .filter((f) => !FORBIDDEN.some(([n]) => n === f))
    .sort();
  const expected = pyDump(files.map((f) => path.join(dir, f)));
  for (const f of files) {
    const file = path.join(dir, f);
    const exp = expected[file];
    t.notOk('error' in exp, `${f}: Python loads it`);
    const { format, value } = await readCheckpointRawFile(file);
    t.equal(format, f.includes('legacy') ? 'legacy' : 'zip', `${f}: format`);
    t.same(dumpRaw(value), exp as DumpRow[], `${f}: every leaf equals Python's (values, strides, offsets, flags)`);
    const piece = await readCheckpointRawFile(file, { wholeFileLimit: 0 });
    t.same(dumpRaw(piece.value), exp as DumpRow[], `${f}: piecewise read too`);
  }

  // Views keep sharing one storage object, with PyTorch's strides and offsets.
  for (const f of ['views.pt', 'views_legacy.pt']) {
    const v = (await readCheckpointRaw(path.join(dir, f))) as Map<string, RawTensor>;
    const base = v.get('base') as RawTensor;
    for (const k of ['row', 'col', 't', 'narrow', 'step', 'same']) {
      t.equal((v.get(k) as RawTensor).storage, base.storage, `${f}: ${k} shares the base storage`);
    }
    t.equal(v.get('same'), v.get('same'));
    const narrow = v.get('narrow') as RawTensor;
    t.same([narrow.shape, narrow.stride, narrow.storageOffset], [[2, 3], [6, 1], 8], `${f}: narrow view`);
    t.same([...new Float32Array(Uint8Array.from(narrow.contiguousBytes()).buffer)], [8, 9, 10, 14, 15, 16]);
    const tt = v.get('t') as RawTensor;
    t.notOk(tt.isContiguous());
    t.same([...new Float32Array(Uint8Array.from(tt.contiguousBytes()).buffer)].slice(0, 5), [0, 6, 12, 18, 1]);
    const ex = v.get('expand') as RawTensor;
    t.same(ex.stride, [0, 1], `${f}: expanded tensor keeps stride 0`);
  }
  const p = (await readCheckpointRaw(path.join(dir, 'params.pt'))) as Map<string, RawTensor>;
  t.same([p.get('p')!.isParameter, p.get('p')!.requiresGrad], [true, true]);
  t.same([p.get('q')!.isParameter, p.get('q')!.requiresGrad], [true, false]);
  t.same([p.get('g')!.isParameter, p.get('g')!.requiresGrad], [false, true]);
  const n = (await readCheckpointRaw(path.join(dir, 'nested.pt'))) as Map<string, RawValue>;
  t.equal(n.get('big'), 2n ** 70n, 'big ints become bigint');
  t.equal(n.get('bigneg'), -(2 ** 40));
  t.same(n.get('size'), [2, 3]);
  t.ok(Object.isFrozen(n.get('tup')), 'tuples are frozen arrays');
  t.same([...(n.get('intkeys') as Map<number, string>).keys()], [1, -2]);
  const opt = n.get('optimizer') as Map<string, RawValue>;
  const groups = opt.get('param_groups') as Map<string, RawValue>[];
  t.equal(groups[0].get('lr'), 0.001);
  t.same(groups[0].get('betas'), [0.9, 0.999]);
  t.same(groups[0].get('params'), [0, 1]);
  t.same([...(opt.get('state') as Map<number, RawValue>).keys()], [0, 1]);

  const zipNames = await ZipReader.open(new BufferSource(fs.readFileSync(path.join(dir, 'from_buffer.pt'))));
  t.ok(
    zipNames.entries.some((e) => e.name === 'archive/data.pkl'),
    'a torch.save to a buffer uses the name "archive"',
  );
});

t.test('forbidden pickles are refused with ERR_UNSAFE_PICKLE naming the global', { skip }, async (t) => {
  const { dir, cleanup } = tmpDir();
  t.teardown(cleanup);
  py(GEN, [dir]);
  for (const [f, re] of FORBIDDEN) {
    await t.rejects(readCheckpointRaw(path.join(dir, f)), { code: 'ERR_UNSAFE_PICKLE', message: re }, f);
  }
});

/** A tree exercising what this writer supports. */
function sampleTree(): RawValue {
  const base = RawTensor.fromBytes('float32', [4, 6], new Uint8Array(Float32Array.from({ length: 24 }, (_, i) => i * 0.5 - 3).buffer));
  const view = new RawTensor({ storage: base.storage, shape: [3, 2], stride: [1, 6], storageOffset: 7 });
  const param = new RawTensor({ storage: base.storage, shape: [6], storageOffset: 6, isParameter: true, requiresGrad: true });
  const sd = new PyOrderedDict<string, RawValue>([
    ['w', base],
    ['wt', view],
    ['p', param],
    ['i64', RawTensor.fromBytes('int64', [3], new Uint8Array(BigInt64Array.from([1n, -2n, 1n << 40n]).buffer))],
    ['bf16', RawTensor.fromBytes('bfloat16', [2], Uint8Array.from([0x80, 0x3f, 0x00, 0xc0]))],
    ['b', RawTensor.fromBytes('bool', [3], Uint8Array.from([1, 0, 1]))],
    ['s', RawTensor.fromBytes('float64', [], new Uint8Array(Float64Array.from([Math.PI]).buffer))],
  ]);
  sd.attributes = new Map([['_metadata', new PyOrderedDict<string, RawValue>([['', new Map([['version', 1]])]])]]);
  return sd;
}

t.test('files written here are read by Python torch.load', { skip }, async (t) => {
  const { dir, cleanup } = tmpDir();
  t.teardown(cleanup);
  const sd = sampleTree();
  const sdFile = path.join(dir, 'sd.pt');
  await writeCheckpointRaw(sdFile, sd);
  const z64File = path.join(dir, 'sd_zip64.pt');
  fs.writeFileSync(z64File, serializeCheckpointRaw(sd, { forceZip64: true }));
  const nested = {
    model: sd,
    epoch: 3,
    lr: 0.125,
    name: 'ckpt',
    flags: [true, false, null],
    pair: Object.freeze([1, 'two']),
    big: 2n ** 80n,
    neg: -5,
    blob: Uint8Array.from([0, 255, 7]),
    state: new Map<RawValue, RawValue>([
      [0, { step: 4 }],
      [1, {}],
    ]),
  };
  const nestedFile = path.join(dir, 'nested.pt');
  await writeCheckpointRaw(nestedFile, nested as unknown as RawValue);
  const ours = {
    [sdFile]: dumpRaw(await readCheckpointRaw(sdFile)),
    [z64File]: dumpRaw(await readCheckpointRaw(z64File)),
    [nestedFile]: dumpRaw(await readCheckpointRaw(nestedFile)),
  };
  t.same(ours[z64File], ours[sdFile], 'ZIP64 variant reads the same here');
  const strict = pyDump([sdFile, z64File], true);
  t.same(strict[sdFile], ours[sdFile], 'state dict: torch.load(weights_only=True) sees the same tensors, views and flags');
  t.same(strict[z64File], ours[sdFile], 'ZIP64 state dict: torch.load(weights_only=True) reads it');
  const full = pyDump([nestedFile], false);
  t.same(full[nestedFile], ours[nestedFile], 'nested checkpoint: torch.load sees the same tree');
  const checks = py(
    String.raw`
import sys, torch, zipfile
sd = torch.load(sys.argv[1], weights_only=True)
print(type(sd).__name__, sd._metadata[''], sd['wt'].data_ptr() - sd['w'].data_ptr() == 7 * 4, sd['p'].__class__.__name__)
z = zipfile.ZipFile(sys.argv[1])
print(sorted(i.filename for i in z.infolist()))
print(z.read('sd/version'), z.read('sd/byteorder'))
n = torch.load(sys.argv[2])
print(n['big'] == 2**80, n['blob'], n['pair'], type(n['pair']).__name__, n['lr'], n['state'][0])
`,
    [sdFile, nestedFile],
  )
    .trim()
    .split('\n');
  t.equal(checks[0], "OrderedDict {'version': 1} True Parameter", 'OrderedDict with _metadata, shared storage, Parameter');
  t.equal(checks[1], "['sd/byteorder', 'sd/data.pkl', 'sd/data/0', 'sd/data/1', 'sd/data/2', 'sd/data/3', 'sd/data/4', 'sd/version']");
  t.equal(checks[2], "b'3\\n' b'little'");
  t.equal(checks[3], "True b'\\x00\\xff\\x07' (1, 'two') tuple 0.125 {'step': 4}");

  // Round trip through Python: Python re-saves what it read from our file; we read that again.
  const resaved = path.join(dir, 'resaved.pt');
  py('import sys, torch; torch.save(torch.load(sys.argv[1]), sys.argv[2])', [nestedFile, resaved]);
  t.same(dumpRaw(await readCheckpointRaw(resaved)), ours[nestedFile], 'ours -> Python -> ours is unchanged');
});
