import t from 'tap';
import * as fs from 'fs';
import * as path from 'path';
import { PyOrderedDict, RawTensor, readCheckpointRaw, readCheckpointRawFile, type RawValue } from '../../lib/io/core';
import { FIX, PT_FILES, dumpRaw, noTorchReason, pyDump, type DumpRow } from './helpers';

function f32bits(t: RawTensor, i: number): string {
  const b = t.contiguousBytes();
  return (
    '0x' +
    Buffer.from(b.buffer, b.byteOffset, b.length)
      .readUInt32LE(4 * i)
      .toString(16)
      .padStart(8, '0')
  );
}

t.test('every fixture .pt loads, from a path (whole and piecewise) and from memory', async (t) => {
  t.ok(PT_FILES.length >= 10, `found ${PT_FILES.length} fixtures`);
  for (const f of PT_FILES) {
    const file = path.join(FIX, f);
    const whole = await readCheckpointRawFile(file);
    const piecewise = await readCheckpointRawFile(file, { wholeFileLimit: 0 });
    const mem = await readCheckpointRaw(fs.readFileSync(file));
    t.equal(whole.format, f.includes('legacy') ? 'legacy' : 'zip', `${f}: format`);
    t.ok(whole.value instanceof Map, `${f}: a dict`);
    t.same(dumpRaw(piecewise.value), dumpRaw(whole.value), `${f}: piecewise read equals whole read`);
    t.same(dumpRaw(mem), dumpRaw(whole.value), `${f}: in-memory read equals file read`);
  }
});

t.test('known values, bit for bit (numbers printed by Python torch 1.13)', async (t) => {
  const sd = (await readCheckpointRaw(path.join(FIX, 'ft_state_dict.pt'))) as PyOrderedDict<string, RawValue>;
  t.ok(sd instanceof PyOrderedDict, 'state dict is an OrderedDict');
  t.equal(sd.size, 478);
  const keys = [...sd.keys()];
  t.equal(keys[0], 'module.modality_a');
  t.ok(
    keys.every((k) => k.startsWith('module.')),
    'DataParallel keys',
  );
  const ma = sd.get('module.modality_a') as RawTensor;
  t.same(ma.shape, [1, 1, 64]);
  t.equal(ma.dtype, 'float32');
  t.same(
    [0, 1, 2, 63].map((i) => f32bits(ma, i)),
    ['0xbd916ed0', '0xbd8b897a', '0x3d0f20a8', '0xbd9203f1'],
  );
  const hb = sd.get('module.mlp_head.1.bias') as RawTensor;
  t.same(hb.shape, [6]);
  t.same(
    [0, 1, 2, 5].map((i) => f32bits(hb, i)),
    ['0xbc418346', '0xbcc0a0e2', '0xbc7da4e7', '0xbb063744'],
  );
  const qkv = sd.get('module.blocks_u.0.attn.qkv.weight') as RawTensor;
  t.same(qkv.shape, [192, 64]);
  t.same(qkv.stride, [64, 1]);
  t.same(
    [0, 1, 2, 192 * 64 - 1].map((i) => f32bits(qkv, i)),
    ['0x3db4f78e', '0xbe0c5565', '0x3ddae4d1', '0x3da2a675'],
  );
  // _metadata from the BUILD opcode is kept
  const md = sd.attributes?.get('_metadata') as Map<string, RawValue>;
  t.ok(md instanceof PyOrderedDict, '_metadata kept');
  t.same([...(md.get('') as Map<string, RawValue>)], [['version', 1]]);
  t.ok(md.has('module.patch_embed_a'));

  const vf = (await readCheckpointRaw(path.join(FIX, 'video_frames.pt'))) as Map<string, RawTensor>;
  const keep = vf.get('keep_indices') as RawTensor;
  t.equal(keep.dtype, 'int64');
  const kb = keep.contiguousBytes();
  t.same([...new BigInt64Array(kb.buffer.slice(kb.byteOffset, kb.byteOffset + kb.length))].map(Number), [53, 59, 65, 71, 77, 83, 89, 95]);
  const raw = vf.get('raw_frames_bgr_u8') as RawTensor;
  t.equal(raw.dtype, 'uint8');
  t.same([...raw.contiguousBytes().subarray(0, 5)], [211, 225, 251, 211, 225]);
  const f16 = vf.get('frames_f16') as RawTensor;
  t.equal(f16.dtype, 'float16');
  const hb16 = f16.contiguousBytes();
  t.same(
    [0, 1, 2].map((i) => hb16[2 * i] | (hb16[2 * i + 1] << 8)),
    [15867, 15867, 15867],
  );

  const fb = (await readCheckpointRaw(path.join(FIX, 'audio_fbank.pt'))) as Map<string, RawTensor>;
  const mean = fb.get('audio_waveform_mean') as RawTensor;
  t.same(mean.shape, [], '0-d tensor has shape []');
  t.equal(f32bits(mean, 0), '0x38357ff3');
});

t.test('every tensor of every fixture equals Python torch.load (sha256 of the bytes)', { skip: noTorchReason() }, async (t) => {
  const all = pyDump(PT_FILES.map((f) => path.join(FIX, f)));
  for (const f of PT_FILES) {
    const file = path.join(FIX, f);
    const expected = all[file] as DumpRow[];
    const got = dumpRaw(await readCheckpointRaw(file));
    t.same(got, expected, `${f}: ${expected.length} entries match`);
  }
});
