import t from 'tap';
import * as fs from 'fs';
import * as path from 'path';
import { RawTensor, readCheckpointRaw, readCheckpointRawFile, serializeSafetensorsRaw, writeSafetensorsRaw } from '../../lib/io/core';
import { dumpRaw, f32, noTorchReason, py, tmpDir } from './helpers';

/** A safetensors file from a header object and data bytes (no validation: for hostile cases). */
function craft(header: unknown, data: Uint8Array, headerText?: string): Buffer {
  const json = Buffer.from(headerText ?? JSON.stringify(header));
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(json.length));
  return Buffer.concat([len, json, data]);
}

t.test('write -> read round trip, header layout', async (t) => {
  const a = RawTensor.fromBytes('float32', [2, 3], f32([1, 2, 3, 4, 5, 6]));
  const tView = new RawTensor({ storage: a.storage, shape: [3, 2], stride: [1, 3] }); // transpose: copied
  const tensors: [string, RawTensor][] = [
    ['a', a],
    ['a.T', tView],
    ['0', RawTensor.fromBytes('int64', [], new Uint8Array(8).fill(1))],
    ['b', RawTensor.fromBytes('bfloat16', [1], Uint8Array.from([0x80, 0x3f]))],
    ['e', RawTensor.fromBytes('float16', [0, 4], new Uint8Array(0))],
    ['flag', RawTensor.fromBytes('bool', [2], Uint8Array.from([1, 0]))],
  ];
  const buf = Buffer.from(serializeSafetensorsRaw(tensors, { framework: 'pt', note: 'x' }));
  const n = Number(buf.readBigUInt64LE(0));
  t.equal((8 + n) % 8, 0, 'header padded to 8 bytes');
  const text = buf.toString('utf8', 8, 8 + n);
  t.ok(text.startsWith('{"__metadata__":{"framework":"pt","note":"x"},"a":'), 'metadata first, then tensors in order');
  t.ok(text.indexOf('"a.T"') < text.indexOf('"0"'), 'integer-like names keep their place');
  const header = JSON.parse(text);
  t.same(header.a, { dtype: 'F32', shape: [2, 3], data_offsets: [0, 24] });
  const { format, value, metadata } = await readCheckpointRawFile(buf);
  t.equal(format, 'safetensors');
  t.same(
    [...metadata!],
    [
      ['framework', 'pt'],
      ['note', 'x'],
    ],
  );
  const m = value as Map<string, RawTensor>;
  t.same([...m.keys()], ['a', 'a.T', '0', 'b', 'e', 'flag'], 'order kept, even for integer-like names');
  t.same([...new Float32Array(Uint8Array.from(m.get('a.T')!.contiguousBytes()).buffer)], [1, 4, 2, 5, 3, 6], 'a view is written contiguous');
  for (const [k, v] of tensors) {
    t.same(Buffer.from(m.get(k)!.contiguousBytes()), Buffer.from(v.contiguousBytes()), `${k} bytes`);
    t.same([m.get(k)!.dtype, m.get(k)!.shape], [v.dtype, v.shape], `${k} dtype and shape`);
  }
  const { dir, cleanup } = tmpDir();
  t.teardown(cleanup);
  const f = path.join(dir, 'x.safetensors');
  await writeSafetensorsRaw(f, tensors);
  const fromFile = await readCheckpointRawFile(f, { wholeFileLimit: 0 });
  t.same(dumpRaw(fromFile.value), dumpRaw(value), 'file read piecewise = in-memory read');
  t.equal(fromFile.metadata, null);
});

t.test('hostile headers are refused with ERR_CHECKPOINT_CORRUPT', async (t) => {
  const d = new Uint8Array(16);
  const e = (dtype: string, shape: unknown, offs: unknown): unknown => ({ dtype, shape, data_offsets: offs });
  const cases: [string, Buffer, RegExp][] = [
    [
      'header length beyond the file',
      (() => {
        const b = craft({}, d);
        b.writeBigUInt64LE(1000n);
        return b;
      })(),
      /safetensors|unrecognised/,
    ],
    [
      'header length absurd',
      (() => {
        const b = craft({}, d);
        b.writeBigUInt64LE(2n ** 62n);
        return b;
      })(),
      /safetensors|unrecognised/,
    ],
    ['not JSON', craft(null, d, '{"a": nope}'), /header/],
    [
      'duplicate keys',
      craft(null, d, '{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"a":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}}'),
      /duplicate key/,
    ],
    ['unknown dtype', craft({ a: e('F31', [4], [0, 16]) }, d), /dtype/],
    ['float shape', craft({ a: e('F32', [1.5], [0, 16]) }, d), /shape/],
    ['negative shape', craft({ a: e('F32', [-4], [0, 16]) }, d), /shape/],
    ['offsets outside', craft({ a: e('F32', [8], [0, 32]) }, d), /outside/],
    ['size mismatch', craft({ a: e('F32', [3], [0, 16]) }, d), /needs 12 bytes/],
    ['overlap', craft({ a: e('F32', [4], [0, 16]), b: e('F32', [2], [8, 16]) }, d), /overlaps/],
    ['gap', craft({ a: e('F32', [2], [8, 16]) }, d), /gap/],
    ['trailing bytes', craft({ a: e('F32', [2], [0, 8]) }, d), /trailing/],
    ['begin > end', craft({ a: e('F32', [0], [16, 8]) }, d), /outside/],
    ['metadata not strings', craft({ __metadata__: { a: 1 }, x: e('U8', [16], [0, 16]) }, d), /metadata/],
    ['extra field', craft({ a: { dtype: 'U8', shape: [16], data_offsets: [0, 16], evil: 1 } }, d), /unknown field/],
    ['header is an array', craft([1], d), /object|unrecognised/],
    ['deep nesting', craft(null, d, '{"a":' + '['.repeat(100) + ']'.repeat(100) + '}'), /deep/],
    [
      'invalid utf-8',
      (() => {
        const b = craft(null, d, '{"\u00ff":{}}');
        b[10] = 0xff;
        b[11] = 0x20;
        return b;
      })(),
      /UTF-8/,
    ],
  ];
  for (const [what, buf, re] of cases) {
    await t.rejects(readCheckpointRaw(buf), { code: 'ERR_CHECKPOINT_CORRUPT', message: re }, what);
  }
  await t.rejects(readCheckpointRaw(craft({ a: e('F8_E4M3', [16], [0, 16]) }, d)), { code: 'ERR_CHECKPOINT_CORRUPT', message: /unsupported dtype/ });
  t.throws(() => serializeSafetensorsRaw([['__metadata__', RawTensor.fromBytes('uint8', [0], new Uint8Array(0))]]), { code: 'ERR_CHECKPOINT_INVALID' });
});

t.test('Python reads our safetensors bytes with the spec (json + torch.frombuffer)', { skip: noTorchReason() }, async (t) => {
  const { dir, cleanup } = tmpDir();
  t.teardown(cleanup);
  const f = path.join(dir, 'x.safetensors');
  const a = RawTensor.fromBytes('float32', [2, 2], f32([1.5, -2, 3, 4]));
  await writeSafetensorsRaw(f, [
    ['w', a],
    ['i', RawTensor.fromBytes('int32', [3], new Uint8Array(Int32Array.from([7, -8, 9]).buffer))],
  ]);
  const out = py(
    String.raw`
import sys, json, struct, torch
b = open(sys.argv[1], 'rb').read()
n, = struct.unpack('<Q', b[:8]); h = json.loads(b[8:8 + n]); data = bytearray(b[8 + n:])
dt = {'F32': torch.float32, 'I32': torch.int32}
for k, v in h.items():
    s, e = v['data_offsets']
    print(k, torch.frombuffer(data[s:e], dtype=dt[v['dtype']]).reshape(v['shape']).tolist())
`,
    [f],
  ).trim();
  t.equal(out, 'w [[1.5, -2.0], [3.0, 4.0]]\ni [7, -8, 9]');
  t.ok(fs.statSync(f).size > 0);
});
