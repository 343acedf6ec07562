import t from 'tap';
import { spawnSync } from 'child_process';
import { CHILD_TIMEOUT_MS } from '../helpers/wait';
import { PyOrderedDict, RawStorage, RawTensor, pickle, tuple, unpickle, type RawKey, type RawValue, type StorageRef } from '../../lib/io/core';
import { PY } from './helpers';

const noStorage = {
  storageKey: (): string => {
    throw new Error('no storages expected');
  },
};

/** Builds a pickle from byte values and latin1 strings. */
function pk(...parts: (number | string | number[])[]): Uint8Array {
  const out: number[] = [];
  for (const p of parts) {
    if (typeof p === 'number') out.push(p);
    else if (typeof p === 'string') for (const c of Buffer.from(p, 'latin1')) out.push(c);
    else out.push(...p);
  }
  return Uint8Array.from(out);
}
const u32 = (n: number): number[] => [n & 255, (n >>> 8) & 255, (n >>> 16) & 255, (n >>> 24) & 255];
const str = (s: string): number[] => [0x58, ...u32(Buffer.byteLength(s)), ...Buffer.from(s, 'utf8')];

t.test('plain values from hand-made pickles (incl. protocol 0/1 text opcodes)', async (t) => {
  const v = (b: Uint8Array): RawValue => unpickle(b).value;
  t.equal(v(pk('I12345\n.')), 12345);
  t.equal(v(pk('I01\n.')), true);
  t.equal(v(pk('I00\n.')), false);
  t.equal(v(pk('L-98765432109876543210L\n.')), -98765432109876543210n);
  t.equal(v(pk('F0.25\n.')), 0.25);
  t.equal(v(pk('Finf\n.')), Infinity);
  t.equal(v(pk(0x8a, 1, 0xff, '.')), -1, 'LONG1 negative');
  t.equal(v(pk(0x8a, 0, '.')), 0, 'LONG1 empty is 0');
  t.equal(v(pk(0x8b, u32(9), [0, 0, 0, 0, 0, 0, 0, 0, 1], '.')), 2n ** 64n, 'LONG4');
  t.equal(v(pk(0x8a, 7, [255, 255, 255, 255, 255, 255, 31], '.')), Number.MAX_SAFE_INTEGER, 'safe LONG1 -> number');
  t.equal(v(pk(0x47, [0x3f, 0xf8, 0, 0, 0, 0, 0, 0], '.')), 1.5, 'BINFLOAT is big-endian');
  t.same(v(pk('(K\x01K\x02l.')), [1, 2], 'LIST');
  t.same(v(pk('(K\x01K\x02t.')), [1, 2], 'TUPLE');
  t.ok(Object.isFrozen(v(pk('(K\x01t.'))), 'tuples are frozen');
  t.same(v(pk('(U\x01aK\x01d.')), new Map([['a', 1]]), 'DICT with SHORT_BINSTRING key');
  t.same(v(pk(0x8f, '(K\x01K\x02', 0x90, '.')), new Set([1, 2]), 'EMPTY_SET + ADDITEMS');
  t.same(v(pk('(K\x03', 0x91, '.')), new Set([3]), 'FROZENSET');
  t.same(v(pk('C\x02ab.')), Uint8Array.from([97, 98]), 'SHORT_BINBYTES');
  t.same(v(pk('B', u32(1), 'z.')), Uint8Array.from([122]), 'BINBYTES');
  t.same(v(pk(0x8c, 2, 'hi', 0x94, 'h\x00', 0x86, '.')), ['hi', 'hi'], 'SHORT_BINUNICODE + MEMOIZE + BINGET + TUPLE2');
  t.same(v(pk(']p5\n(K\x01e0g5\n.')), [1], 'PUT/GET text, APPENDS');
  t.same(v(pk('K\x01K\x020.')), 1, 'POP');
  t.same(v(pk('K\x01(K\x02K\x031.')), 1, 'POP_MARK');
  const dup = v(pk(']2', 0x86, '.')) as RawValue[][];
  t.same(dup, [[], []], 'DUP');
  t.equal(dup[0], dup[1], 'DUP pushes the same object');
  t.same(v(pk(0x95, [3, 0, 0, 0, 0, 0, 0, 0], 'N.')), null, 'FRAME');
  const od = v(pk('ccollections\nOrderedDict\n)', 0x81, ...str('k'), 'K\x05s.'));
  t.ok(od instanceof PyOrderedDict, 'NEWOBJ OrderedDict');
  t.same([...(od as Map<string, number>)], [['k', 5]]);
  const sg = v(pk(...str('collections'), ...str('OrderedDict'), 0x93, ')R.'));
  t.ok(sg instanceof PyOrderedDict, 'STACK_GLOBAL OrderedDict');
  t.same(v(pk('c_codecs\nencode\n', ...str('\u00ffa'), ...str('latin1'), 0x86, 'R.')), Uint8Array.from([255, 97]), 'bytes in protocol 2');
  t.same(v(pk('ctorch\nSize\n', 'K\x02K\x03', 0x86, 0x85, 'R.')), [2, 3], 'torch.Size');
  const r = unpickle(pk('K\x01.K\x02.'), {}, 0);
  t.same([r.value, r.end], [1, 3], 'end offset after STOP');
  t.equal(unpickle(pk('K\x01.K\x02.'), {}, r.end).value, 2, 'second pickle in the same buffer');
});

t.test('refusals: unsafe globals and opcodes', async (t) => {
  const unsafe: [string, Uint8Array, RegExp][] = [
    ['GLOBAL os.system', pk('cos\nsystem\n', ...str('echo'), 0x85, 'R.'), /`os\.system`/],
    ['GLOBAL posix.system', pk('cposix\nsystem\n.'), /`posix\.system`/],
    ['STACK_GLOBAL builtins.eval', pk(...str('builtins'), ...str('eval'), 0x93, '.'), /`builtins\.eval`/],
    ['torch.load itself', pk('ctorch\nload\n.'), /`torch\.load`/],
    [
      'a pickled module',
      pk('ctorch.nn.modules.linear\nLinear\n.'),
      /this file contains a pickled `torch\.nn\.modules\.linear\.Linear`; save `model\.state_dict\(\)` instead/,
    ],
    ['copyreg reconstructor', pk('ccopy_reg\n_reconstructor\n.'), /`copy_reg\._reconstructor`/],
    ['INST', pk('(K\x01ios\nsystem\n.'), /`os\.system`/],
    ['EXT1', pk(0x82, 1, '.'), /extension/],
    ['NEWOBJ of a rebuild function', pk('ctorch._utils\n_rebuild_tensor_v2\n)', 0x81, '.'), /NEWOBJ/],
  ];
  for (const [what, b, re] of unsafe) t.throws(() => unpickle(b), { code: 'ERR_UNSAFE_PICKLE', message: re }, what);
  const unsupported: [string, Uint8Array][] = [
    ['protocol 6', pk(0x80, 6, 'N.')],
    ['BUILD on a dict', pk('}}b.')],
    ['text STRING opcode', pk("S'a'\n.")],
    ['out-of-band buffer', pk(0x97, '.')],
    ['bare storage class', pk('ctorch\nFloatStorage\n.')],
    ['complex storage', pk('ctorch\nComplexFloatStorage\n.')],
  ];
  for (const [what, b] of unsupported) t.throws(() => unpickle(b), { code: 'ERR_CHECKPOINT_UNSUPPORTED' }, what);
});

t.test('corrupt pickles: bounds and stack checks', async (t) => {
  const bad: [string, Uint8Array][] = [
    ['empty', pk()],
    ['no STOP', pk('K\x01')],
    ['stack underflow', pk('.')],
    ['underflow below a mark', pk('K\x01(', 0x85, '.')],
    ['APPENDS without mark', pk(']e.')],
    ['memo miss', pk('h\x07.')],
    ['long memo miss', pk('j', u32(123456), '.')],
    ['string longer than the buffer', pk('X', u32(1000), 'abc.')],
    ['BINBYTES8 absurd length', pk(0x8e, [255, 255, 255, 255, 255, 255, 255, 255], '.')],
    ['LONG4 negative length', pk(0x8b, u32(0xffffffff), '.')],
    ['unknown opcode', pk(0xff, '.')],
    ['APPEND to a tuple', pk(')K\x01a.')],
    ['SETITEM on a list', pk(']K\x01K\x02s.')],
    ['unhashable key', pk('}]K\x01s.')],
    ['REDUCE on a non-callable', pk('K\x01)R.')],
    ['REDUCE with non-tuple args', pk('ccollections\nOrderedDict\nK\x01R.')],
    ['persistent id without a loader', pk('(', ...str('storage'), 'ctorch\nFloatStorage\n', ...str('0'), ...str('cpu'), 'K\x01tQ.')],
    ['malformed int text', pk('Iabc\n.')],
    ['GLOBAL without newline', pk('cos')],
    ['odd SETITEMS', pk('}(K\x01u.')],
  ];
  for (const [what, b] of bad) t.throws(() => unpickle(b), { code: 'ERR_CHECKPOINT_CORRUPT' }, what);
});

t.test('tensor rebuilds are bounds-checked against the storage', async (t) => {
  const storages = new Map<string, RawStorage>();
  const loadStorage = (r: StorageRef): RawStorage => {
    let s = storages.get(r.key);
    if (!s) storages.set(r.key, (s = new RawStorage(r.key, r.dtype, r.numel, new Uint8Array(r.numel * 4), r.location)));
    return s;
  };
  const tensor = (offset: number[], size: number[], stride: number[], rg = [0x89]): Uint8Array =>
    pk(
      'ctorch._utils\n_rebuild_tensor_v2\n(',
      '(',
      ...str('storage'),
      'ctorch\nFloatStorage\n',
      ...str('0'),
      ...str('cpu'),
      'K\x0ctQ',
      offset,
      '(',
      ...size.flatMap((s) => [0x4a, ...u32(s)]),
      't(',
      ...stride.flatMap((s) => [0x4a, ...u32(s)]),
      't',
      rg,
      'ccollections\nOrderedDict\n)RtR.',
    );
  const good = unpickle(tensor([0x4b, 1], [2, 5], [6, 1]), { loadStorage }).value as RawTensor;
  t.same([good.shape, good.stride, good.storageOffset], [[2, 5], [6, 1], 1]);
  const cases: [string, Uint8Array][] = [
    ['past the end', tensor([0x4b, 3], [2, 5], [5, 1])],
    ['huge stride', tensor([0x4b, 0], [2, 2], [0x7fffffff, 1])],
    ['negative stride', tensor([0x4b, 0], [2], [-1])],
    ['negative size', tensor([0x4b, 0], [-2], [1])],
    ['size/stride rank mismatch', tensor([0x4b, 0], [2, 2], [1])],
    ['non-bool requires_grad', tensor([0x4b, 0], [2], [1], [0x4b, 1])],
  ];
  for (const [what, b] of cases) {
    storages.clear();
    t.throws(() => unpickle(b, { loadStorage }), { code: 'ERR_CHECKPOINT_CORRUPT' }, what);
  }
  storages.clear();
  const empty = unpickle(tensor([0x4a, ...u32(1000)], [0, 5], [5, 1]), { loadStorage }).value as RawTensor;
  t.same(empty.shape, [0, 5], 'an empty view is not bounds-checked (as in PyTorch)');
});

t.test('writer -> reader round trip of the allowlisted vocabulary', async (t) => {
  const st = RawTensor.fromBytes('float32', [2, 2], new Uint8Array(16));
  const list: RawValue[] = [1, 'x'];
  const tree = new PyOrderedDict<string, RawValue>([
    ['ints', [0, 1, 255, 256, 65535, 65536, -1, 2 ** 31 - 1, -(2 ** 31), 2 ** 31, Number.MAX_SAFE_INTEGER, -Number.MAX_SAFE_INTEGER]],
    ['bigs', [2n ** 100n, -(2n ** 100n), 2n ** 63n]],
    ['floats', [0.1, -0, Infinity, -Infinity, 1e300, 2 ** 60]],
    ['strings', ['', 'ascii', '\u00e9\u4e2d\u{1f600}', 'x'.repeat(70000)]],
    ['misc', [null, true, false, Uint8Array.from([0, 255]), new Uint8Array(0)]],
    ['tuple', tuple(1, tuple(2, 3), tuple(), tuple(1, 2, 3, 4))],
    [
      'nested',
      new Map<RawKey, RawValue>([
        [1, 'a'],
        [tuple(1, 2), 'b'],
        ['k', { plain: [1, 2] }],
      ]),
    ],
    ['shared', [list, list]],
    ['tensor', st],
    ['same', st],
  ]);
  tree.attributes = new Map([['_metadata', new PyOrderedDict([['', new Map([['version', 2]])]])]]);
  const storages: RawStorage[] = [];
  const bytes = pickle(tree, {
    storageKey: (s) => {
      storages.push(s);
      return String(storages.length - 1);
    },
  });
  t.equal(storages.length, 1, 'one storage for the shared tensor');
  const back = unpickle(bytes, { loadStorage: () => storages[0] }).value as PyOrderedDict<string, RawValue>;
  t.ok(back instanceof PyOrderedDict);
  t.same([...back.keys()], [...tree.keys()]);
  for (const k of ['ints', 'bigs', 'strings', 'misc', 'tuple']) t.same(back.get(k), tree.get(k), k);
  const floats = back.get('floats') as number[];
  t.ok(Object.is(floats[1], -0), '-0 stays a float');
  t.same(floats, tree.get('floats'));
  t.ok(Object.isFrozen(back.get('tuple')));
  const nested = back.get('nested') as Map<RawValue, RawValue>;
  t.same([...nested.values()], ['a', 'b', new Map([['plain', [1, 2]]])]);
  const shared = back.get('shared') as RawValue[][];
  t.equal(shared[0], shared[1], 'shared list stays shared (memo)');
  t.equal(back.get('tensor'), back.get('same'), 'same tensor object twice -> same object');
  t.same(back.attributes?.get('_metadata'), tree.attributes.get('_metadata'));
  const cyc: RawValue[] = [];
  cyc.push(cyc);
  const c = unpickle(pickle(cyc, noStorage)).value as RawValue[];
  t.equal(c[0], c, 'a self-containing list round trips');
});

t.test('writer refuses what Python could not load', async (t) => {
  const bad: [string, unknown][] = [
    ['undefined', { a: undefined }],
    ['function', [() => 1]],
    ['Float32Array', new Float32Array(2)],
    ['Set', new Set([1])],
    ['symbol', Symbol('x')],
    ['class instance', new (class Foo {})()],
    ['unhashable key', new Map([[[1], 2]])],
    [
      'recursive tuple',
      (() => {
        const a: unknown[] = [];
        const tu = Object.freeze([a]);
        a.push(tu);
        return Object.freeze([tu, a]);
      })(),
    ],
  ];
  for (const [what, v] of bad) t.throws(() => pickle(v, noStorage), { code: 'ERR_CHECKPOINT_INVALID' }, what);
});

const noPython = spawnSync(PY, ['-c', '1'], { timeout: CHILD_TIMEOUT_MS, killSignal: 'SIGKILL' }).status === 0 ? false : `${PY} not available`;

t.test('Python pickle (protocols 2-5) -> reader, and writer -> Python pickle', { skip: noPython }, async (t) => {
  const script = String.raw`
import pickle, sys, collections, json
v = {'i': [0, 1, -1, 255, 256, 65536, -2**31, 2**31, 2**63, -2**70], 'f': [0.5, -0.0, 1e300],
     's': ['', 'abc', '\u00e9\u4e2d'], 'b': [b'', b'\x00\xff'], 'n': None, 't': (True, False), 'l': [[1], (2,)],
     'od': collections.OrderedDict([('x', 1)]), 'set': {3}, 'fs': frozenset([4]), 'ba': bytearray(b'q')}
for p in range(2, 6):
    sys.stdout.write(pickle.dumps(v, protocol=p).hex() + '\n')
`;
  const r = spawnSync(PY, ['-c', script], { encoding: 'utf8', timeout: CHILD_TIMEOUT_MS, killSignal: 'SIGKILL' });
  t.equal(r.status, 0, r.stderr);
  const lines = r.stdout.trim().split('\n');
  for (const [i, hex] of lines.entries()) {
    const proto = i + 2;
    if (proto < 4) {
      // protocols 2 and 3 spell set/frozenset as builtins calls, which are not on the allowlist
      t.throws(() => unpickle(Buffer.from(hex, 'hex')), { code: 'ERR_UNSAFE_PICKLE', message: /builtin(s|__)\.set/ }, `protocol ${proto} set refused`);
      continue;
    }
    const v = unpickle(Buffer.from(hex, 'hex')).value as Map<string, RawValue>;
    t.same(v.get('i'), [0, 1, -1, 255, 256, 65536, -(2 ** 31), 2 ** 31, 2n ** 63n, -(2n ** 70n)], `p${proto} ints`);
    t.same(v.get('f'), [0.5, -0, 1e300], `p${proto} floats`);
    t.same(v.get('s'), ['', 'abc', '\u00e9\u4e2d'], `p${proto} strings`);
    t.same(v.get('b'), [new Uint8Array(0), Uint8Array.from([0, 255])], `p${proto} bytes`);
    t.same([v.get('n'), v.get('t'), v.get('l')], [null, [true, false], [[1], [2]]], `p${proto} misc`);
    t.ok(v.get('od') instanceof PyOrderedDict, `p${proto} OrderedDict`);
    t.same([v.get('set'), v.get('fs'), v.get('ba')], [new Set([3]), new Set([4]), Uint8Array.from([113])], `p${proto} sets, bytearray`);
  }
  const ours = pickle(
    new Map<RawKey, RawValue>([
      ['ints', [0, 255, 256, -1, 2 ** 31, -(2 ** 40), 2n ** 80n, -(2n ** 80n)]],
      ['f', [0.1, -0, 1e-300]],
      ['s', '\u00e9\u{1f600}'],
      ['b', Uint8Array.from([0, 200])],
      ['t', tuple(1, tuple())],
      ['od', new PyOrderedDict([['a', null]])],
      [3, true],
    ]),
    noStorage,
  );
  // Compared as values in Python (reprs differ between versions, e.g. OrderedDict in 3.12), plus the
  // types that equality alone would not pin down (tuple vs list, OrderedDict vs dict, -0.0).
  const back = spawnSync(
    PY,
    [
      '-c',
      String.raw`
import pickle, sys, math, collections
v = pickle.loads(bytes.fromhex(sys.stdin.read()))
want = {'ints': [0, 255, 256, -1, 2147483648, -1099511627776, 2**80, -2**80], 'f': [0.1, -0.0, 1e-300],
        's': '\u00e9\U0001f600', 'b': b'\x00\xc8', 't': (1, ()), 'od': collections.OrderedDict([('a', None)]), 3: True}
ok = (v == want and list(v) == list(want) and type(v['t']) is tuple and type(v['od']) is collections.OrderedDict
      and math.copysign(1, v['f'][1]) == -1 and type(v[3]) is bool)
print('equal' if ok else repr(v))`,
    ],
    { encoding: 'utf8', input: Buffer.from(ours).toString('hex'), timeout: CHILD_TIMEOUT_MS, killSignal: 'SIGKILL' },
  );
  t.equal(back.status, 0, back.stderr);
  t.equal(back.stdout.trim(), 'equal');
});
