/** Tensor-level load/save/saveSafetensors and convertCheckpoint (needs the native addon). */
import t from 'tap';
import * as fs from 'fs';
import * as path from 'path';
import { torch, Tensor } from '../../lib/tensor';
import { load, save, saveSafetensors } from '../../lib/io';
import {
  PyOrderedDict,
  RawStorage,
  RawTensor,
  convertCheckpoint,
  readCheckpointRaw,
  readCheckpointRawFile,
  serializeCheckpointRaw,
  type RawValue,
} from '../../lib/io/core';
import { FIX, PT_FILES, dumpRaw, f32, noTorchReason, py, pyDump, sha256, tmpDir, type DumpRow } from './helpers';

const live = (): number => torch.memory().liveTensors;

/** Every tensor of a loaded tree (Maps, arrays, plain objects). */
const disposeTree = (x: unknown): void => torch.dispose(x);

/** The dump rows of a Tensor tree, in the format of helpers.dumpRaw (for comparisons). */
function dumpTensors(x: unknown): DumpRow[] {
  const conv = (v: unknown, seen: Map<unknown, unknown>): unknown => {
    if (v instanceof Tensor) {
      const bytes = v.toBuffer();
      const raw = RawTensor.fromBytes(v.dtype as never, v.shape, bytes);
      return new RawTensor({ storage: raw.storage, shape: v.shape, stride: raw.stride, requiresGrad: v.requiresGrad });
    }
    if (v === null || typeof v !== 'object' || v instanceof Uint8Array) return v;
    if (seen.has(v)) return seen.get(v);
    if (Array.isArray(v)) {
      const o: unknown[] = [];
      seen.set(v, o);
      v.forEach((e) => o.push(conv(e, seen)));
      return Object.isFrozen(v) ? Object.freeze(o) : o;
    }
    if (v instanceof Map) {
      const o = v instanceof PyOrderedDict ? new PyOrderedDict() : new Map();
      seen.set(v, o);
      for (const [k, e] of v) o.set(k, conv(e, seen) as RawValue);
      return o;
    }
    return v;
  };
  // strides/offsets of loaded views differ from a contiguous copy; compare values only
  return dumpRaw(conv(x, new Map()) as RawValue).map(([p, k, info]) =>
    k === 'tensor' ? [p, k, { ...(info as object), stride: null, offset: null, parameter: null }] : [p, k, info],
  );
}
const valuesOnly = (rows: DumpRow[]): DumpRow[] =>
  rows.map(([p, k, info]) => (k === 'tensor' ? [p, k, { ...(info as object), stride: null, offset: null, parameter: null }] : [p, k, info]));

t.test('load: every fixture, values equal the raw bytes; no tensor leaks', async (t) => {
  const start = live();
  for (const f of PT_FILES) {
    const file = path.join(FIX, f);
    const tree = await load<Map<string, unknown>>(file, { mapLocation: 'cpu' });
    t.ok(tree instanceof Map, `${f}: a Map`);
    t.same(dumpTensors(tree), valuesOnly(dumpRaw(await readCheckpointRaw(file))), `${f}: every tensor equals the file`);
    disposeTree(tree);
  }
  t.equal(live(), start, 'all tensors released');
  const sd = await load(path.join(FIX, 'ft_state_dict.pt'));
  t.ok(sd instanceof PyOrderedDict, 'state dict keeps its OrderedDict class (and _metadata)');
  t.equal(sd.size, 478);
  const w = sd.get('module.blocks_u.0.attn.qkv.weight')!;
  t.same([w.shape, w.dtype, w.device, w.isContiguous()], [[192, 64], 'float32', 'cpu', true]);
  disposeTree(sd);
  t.equal(live(), start);
});

t.test('load: shared storages become views of one tensor', async (t) => {
  const start = live();
  const base = RawTensor.fromBytes('float32', [4, 6], f32(Array.from({ length: 24 }, (_, i) => i)));
  const tree = new Map<string, RawValue>([
    ['base', base],
    ['t', new RawTensor({ storage: base.storage, shape: [6, 4], stride: [1, 6] })],
    ['narrow', new RawTensor({ storage: base.storage, shape: [2, 3], stride: [6, 1], storageOffset: 8 })],
    ['p', new RawTensor({ storage: base.storage, shape: [2], storageOffset: 22, isParameter: true, requiresGrad: true })],
    ['again', base],
    ['meta', tuple2(1, 'x')],
  ]);
  const m = await load<Map<string, Tensor>>(serializeCheckpointRaw(tree));
  const tt = m.get('t')!;
  const narrow = m.get('narrow')!;
  t.same([tt.shape, tt.stride(), tt.isContiguous()], [[6, 4], [1, 6], false], 'transposed view keeps its strides');
  t.same([narrow.stride(), narrow.storageOffset()], [[6, 1], 8]);
  t.same(narrow.tolist(), [
    [8, 9, 10],
    [14, 15, 16],
  ]);
  t.equal(m.get('again'), m.get('base'), 'the same tensor object twice stays one Tensor');
  t.ok(m.get('p')!.requiresGrad, 'requires_grad restored');
  t.same(m.get('meta'), [1, 'x']);
  m.get('base')!.fill_(7);
  t.same(
    narrow.tolist(),
    [
      [7, 7, 7],
      [7, 7, 7],
    ],
    'writing the base is seen through the views: one storage',
  );
  t.same((tt.tolist() as number[][])[0], [7, 7, 7, 7]);
  disposeTree(m);
  t.equal(live(), start, 'no leaks');
});

function tuple2(a: RawValue, b: RawValue): RawValue {
  return Object.freeze([a, b]);
}

t.test('load: mapLocation, devices and failures without leaks', async (t) => {
  const start = live();
  const s = new RawStorage('', 'float32', 2, f32([1, 2]), 'cuda:1');
  const onCuda = serializeCheckpointRaw(new Map([['x', new RawTensor({ storage: s, shape: [2] })]]));
  for (const mapLocation of ['cpu', () => 'cpu', { 'cuda:1': 'cpu' }] as const) {
    const m = await load<Map<string, Tensor>>(onCuda, { mapLocation: mapLocation as never });
    t.same([m.get('x')!.device, m.get('x')!.tolist()], ['cpu', [1, 2]], `mapLocation ${typeof mapLocation}`);
    disposeTree(m);
  }
  if (!torch.cuda.isAvailable()) {
    await t.rejects(load(onCuda), { code: 'ERR_CHECKPOINT_DEVICE', message: /CUDA is not available; pass \{ mapLocation: 'cpu' \}/ });
  }
  await t.rejects(load(onCuda, { mapLocation: 'tpu' }), { code: 'ERR_CHECKPOINT_INVALID' });
  await t.rejects(load(onCuda, { mapLocation: 5 as never }), { code: 'ERR_CHECKPOINT_INVALID' });
  // a file whose last storage is corrupt: the storages read before it must be released
  const three = Buffer.from(
    serializeCheckpointRaw(
      new Map([
        ['a', RawTensor.fromBytes('float32', [1000], new Uint8Array(4000))],
        ['b', RawTensor.fromBytes('float32', [1000], new Uint8Array(4000))],
        ['c', RawTensor.fromBytes('float32', [1000], new Uint8Array(4000).fill(3))],
      ]),
    ),
  );
  three[three.lastIndexOf(3) - 10] ^= 0xff;
  await t.rejects(load(three), { code: 'ERR_CHECKPOINT_CORRUPT', message: /CRC/ });
  await t.rejects(load(path.join(FIX, 'nope.pt')), { code: 'ENOENT' });
  t.equal(live(), start, 'no tensors leaked by failed loads');
});

t.test('save -> load and save -> raw reader; nested checkpoints; safetensors', async (t) => {
  const start = live();
  const { dir, cleanup } = tmpDir();
  t.teardown(cleanup);
  const w = torch.tidy(() => torch.arange(12, undefined, 1, { dtype: 'float32' }).reshape(3, 4));
  const wt = w.transpose(0, 1);
  const sd = new Map<string, Tensor>([
    ['w', w],
    ['wt', wt],
    ['h', torch.ones([2], { dtype: 'float16' })],
    ['i', torch.arange(3)],
  ]);
  const f = path.join(dir, 'sd.pt');
  await save(sd, f);
  const raw = await readCheckpointRaw(f);
  t.ok(raw instanceof PyOrderedDict, 'a state dict is written as an OrderedDict');
  const back = await load<Map<string, Tensor>>(f);
  t.same([...back.keys()], ['w', 'wt', 'h', 'i']);
  t.same(back.get('wt')!.tolist(), wt.tolist(), 'a non-contiguous tensor is saved by value');
  t.same(back.get('h')!.dtype, 'float16');
  for (const k of sd.keys()) t.ok(back.get(k)!.equal(sd.get(k)!), `${k} equal`);
  disposeTree(back);

  const nested = {
    model: sd,
    epoch: 3,
    best: 0.5,
    tag: 'run',
    tup: Object.freeze([1, 2]),
    optimizer: new Map<unknown, unknown>([
      [
        'state',
        new Map([
          [
            0,
            new Map<string, unknown>([
              ['step', torch.full([], 4)],
              ['exp_avg', torch.zeros([3, 4])],
            ]),
          ],
        ]),
      ],
      [
        'param_groups',
        [
          new Map<string, unknown>([
            ['lr', 0.001],
            ['betas', Object.freeze([0.9, 0.999])],
            ['params', [0, 1]],
          ]),
        ],
      ],
    ]),
  };
  const nf = path.join(dir, 'nested.pt');
  await save(nested, nf);
  const nb = await load<Map<string, unknown>>(nf);
  t.same([...nb.keys()], ['model', 'epoch', 'best', 'tag', 'tup', 'optimizer']);
  t.same([nb.get('epoch'), nb.get('best'), nb.get('tag'), nb.get('tup')], [3, 0.5, 'run', [1, 2]]);
  const opt = nb.get('optimizer') as Map<string, unknown>;
  const st = (opt.get('state') as Map<number, Map<string, Tensor>>).get(0)!;
  t.same([st.get('step')!.item(), st.get('exp_avg')!.shape], [4, [3, 4]]);
  t.same((opt.get('param_groups') as Map<string, unknown>[])[0].get('betas'), [0.9, 0.999]);
  disposeTree(nb);

  const sf = path.join(dir, 'sd.safetensors');
  await saveSafetensors(sd, sf, { framework: 'pt' });
  const { format, metadata } = await readCheckpointRawFile(sf);
  t.same([format, [...metadata!]], ['safetensors', [['framework', 'pt']]]);
  const sb = await load<Map<string, Tensor>>(sf);
  for (const k of sd.keys()) t.ok(sb.get(k)!.equal(sd.get(k)!), `safetensors ${k} equal`);
  disposeTree(sb);
  const complex = w.to('complex64');
  await t.rejects(save(new Map([['x', complex]]), path.join(dir, 'c.pt')), { code: 'ERR_CHECKPOINT_INVALID' });
  complex.dispose();
  disposeTree(nested);
  t.equal(live(), start, 'no leaks');
  t.same(
    fs.readdirSync(dir).filter((n) => n.endsWith('.tmp')),
    [],
  );
});

t.test('Python torch.load(weights_only=True) reads what save() wrote', { skip: noTorchReason() }, async (t) => {
  const { dir, cleanup } = tmpDir();
  t.teardown(cleanup);
  const sd = new Map<string, Tensor>([
    ['a', torch.randn([3, 5])],
    ['b', torch.arange(7)],
    ['c', torch.ones([2, 2], { dtype: 'bfloat16' })],
    ['s', torch.full([], 2.5)],
  ]);
  const f = path.join(dir, 'ours.pt');
  await save(sd, f);
  const theirs = pyDump([f], true)[f] as DumpRow[];
  t.notOk('error' in theirs, 'weights_only load works');
  const expected = [...sd].map(([k, v]) => [k, sha256(v.toBuffer()), v.shape] as const);
  const got = theirs
    .filter(([, kind]) => kind === 'tensor')
    .map(([p, , info]) => {
      const i = info as { sha256: string; shape: number[] };
      return [p.slice(1), i.sha256, i.shape] as const;
    });
  t.same(got, expected, 'same keys, bytes and shapes in Python');
  t.equal(theirs[0][1], 'OrderedDict');
  // Python -> us with an optimizer state: plain values come back as JS values
  const pyf = path.join(dir, 'py.pt');
  py(
    String.raw`
import sys, torch
lin = torch.nn.Linear(2, 2); opt = torch.optim.Adam(lin.parameters(), lr=0.01)
lin(torch.ones(1, 2)).sum().backward(); opt.step()
torch.save({'model': lin.state_dict(), 'optimizer': opt.state_dict(), 'epoch': 1}, sys.argv[1])`,
    [pyf],
  );
  const ck = await load<Map<string, unknown>>(pyf);
  const groups = (ck.get('optimizer') as Map<string, unknown>).get('param_groups') as Map<string, unknown>[];
  t.same([groups[0].get('lr'), groups[0].get('amsgrad'), groups[0].get('params'), ck.get('epoch')], [0.01, false, [0, 1], 1]);
  disposeTree(ck);
  disposeTree(sd);
});

t.test('convertCheckpoint: .pth <-> .safetensors with module. strip/add', async (t) => {
  const { dir, cleanup } = tmpDir();
  t.teardown(cleanup);
  const src = path.join(FIX, 'ft_state_dict.pt');
  const st = path.join(dir, 'ft.safetensors');
  const r1 = await convertCheckpoint(src, st, { stripPrefix: true });
  t.same([r1.from, r1.to, r1.tensors], ['zip', 'safetensors', 478]);
  t.ok(
    r1.keys.every((k) => !k.startsWith('module.')),
    'module. stripped',
  );
  const back = path.join(dir, 'ft.pth');
  const r2 = await convertCheckpoint(st, back, { addPrefix: 'module.' });
  t.same([r2.from, r2.to], ['safetensors', 'pth']);
  const a = dumpRaw(await readCheckpointRaw(src)).filter(([, k]) => k === 'tensor');
  const b = dumpRaw(await readCheckpointRaw(back)).filter(([, k]) => k === 'tensor');
  t.same(b, a, 'round trip keeps every key, shape and byte');
  const same = path.join(dir, 'same.pth');
  await convertCheckpoint(src, same);
  t.same(
    ((await readCheckpointRaw(same)) as PyOrderedDict).attributes,
    ((await readCheckpointRaw(src)) as PyOrderedDict).attributes,
    '_metadata kept when keys are unchanged',
  );
  await t.rejects(convertCheckpoint(path.join(FIX, 'ft_io.pt'), path.join(dir, 'x.safetensors'), { key: 'nope' }), { code: 'ERR_CHECKPOINT_INVALID' });
  const nested = path.join(dir, 'nested.pt');
  fs.writeFileSync(
    nested,
    serializeCheckpointRaw(
      new Map<string, RawValue>([
        ['epoch', 1],
        ['model', await readCheckpointRaw(src)],
      ]),
    ),
  );
  const r3 = await convertCheckpoint(nested, path.join(dir, 'n.safetensors'));
  t.equal(r3.tensors, 478, 'finds the state dict under "model"');
});

t.test('CUDA: load onto the GPU, save GPU tensors (location cuda:0)', { skip: torch.cuda.isAvailable() ? false : 'CUDA is not available' }, async (t) => {
  const start = live();
  const { dir, cleanup } = tmpDir();
  t.teardown(cleanup);
  const src = path.join(FIX, 'ft_state_dict.pt');
  const cpu = await load<Map<string, Tensor>>(src, { mapLocation: 'cpu' });
  const gpu = await load<Map<string, Tensor>>(src, { mapLocation: 'cuda:0' });
  t.ok(
    [...gpu.values()].every((v) => v.device === 'cuda:0'),
    'every tensor on cuda:0',
  );
  const k = 'module.blocks_u.0.attn.qkv.weight';
  t.same(Buffer.from(gpu.get(k)!.toBuffer()), Buffer.from(cpu.get(k)!.toBuffer()), 'same bytes on the GPU');
  const f = path.join(dir, 'gpu.pt');
  await save(gpu, f);
  const raw = (await readCheckpointRaw(f)) as Map<string, RawTensor>;
  t.equal(raw.get(k)!.storage.location, 'cuda:0', 'PyTorch location tag of a GPU tensor');
  const back = await load<Map<string, Tensor>>(f);
  t.equal(back.get(k)!.device, 'cuda:0', 'default mapLocation restores the saved device');
  const toCpu = await load<Map<string, Tensor>>(f, { mapLocation: { 'cuda:0': 'cpu' } });
  t.ok(toCpu.get(k)!.equal(cpu.get(k)!), 'mapped back to the CPU, equal');
  for (const m of [cpu, gpu, back, toCpu]) disposeTree(m);
  t.equal(live(), start, 'no leaks');
});
