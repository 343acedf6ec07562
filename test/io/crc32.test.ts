/**
 * lib/io/crc32.ts (@node-rs/crc32, SIMD) must equal zlib.crc32 (the reference; Node >= 20.15, which the
 * tests need, not the package); and a flipped byte
 * anywhere in a large tensor payload (the 64-byte folding, the 16-byte blocks, the byte tail) fails
 * `load` with a CRC-32 mismatch.
 */
import t from 'tap';
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import { torch } from '../../lib/tensor';
import * as zlib from 'zlib';
import { load } from '../../lib/io';
import { RawTensor, serializeCheckpointRaw, type RawValue } from '../../lib/io/core';
import { crc32 } from '../../lib/io/crc32';
import { tmpDir } from './helpers';

t.test('crc32 equals zlib.crc32', async (t) => {
  const b = crypto.randomBytes(5 << 20);
  let bad = 0;
  for (let len = 0; len <= 300; len++) {
    for (let off = 0; off < 17; off++) {
      const v = b.subarray(off, off + len);
      if (crc32(v) !== zlib.crc32(v) || crc32(v, 0xdeadbeef) !== zlib.crc32(v, 0xdeadbeef)) bad++;
    }
  }
  t.equal(bad, 0, 'every length 0..300 at offsets 0..16, with and without a start value');
  t.equal(crc32(b), zlib.crc32(b), '5 MiB');
  t.equal(crc32(b.subarray(1_000_003), crc32(b.subarray(0, 1_000_003))), zlib.crc32(b), 'incremental');
  t.equal(crc32(Buffer.from('The quick brown fox jumps over the lazy dog')), 0x414fa339);
  t.equal(crc32(new Uint8Array(0), 7), 7);
  t.equal(crc32(new Uint8Array(0), 0xffffffff), 0xffffffff, 'unsigned');
});

t.test('load: a flipped byte anywhere in a large stored tensor is a CRC-32 mismatch', async (t) => {
  const start = torch.memory().liveTensors;
  const { dir, cleanup } = tmpDir();
  t.teardown(cleanup);
  const n = (5 << 20) + 13; // several 2 MiB pages, 64-byte folds, 16-byte blocks and a byte tail
  const data = crypto.randomBytes(n);
  const good = Buffer.from(serializeCheckpointRaw(new Map<string, RawValue>([['w', RawTensor.fromBytes('uint8', [n], data)]])));
  const at = good.indexOf(data.subarray(0, 64));
  t.ok(at > 0, 'payload found in the file');
  const f = path.join(dir, 'ok.pt');
  fs.writeFileSync(f, good);
  const ok = await load(f, { wholeFileLimit: 0 });
  t.ok(Buffer.from(ok.get('w')!.toBuffer()).equals(data), 'the intact file loads');
  torch.dispose(ok);
  for (const pos of [0, 63, 64 + 5, (2 << 20) + 1, n - 14, n - 1]) {
    const bad = Buffer.from(good);
    bad[at + pos] ^= 0x01;
    const g = path.join(dir, `bad${pos}.pt`);
    fs.writeFileSync(g, bad);
    await t.rejects(load(g, { wholeFileLimit: 0 }), { code: 'ERR_CHECKPOINT_CORRUPT', message: /CRC-32 mismatch/ }, `byte ${pos}`);
  }
  t.equal(torch.memory().liveTensors, start, 'no tensors leaked');
});
