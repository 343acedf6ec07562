import t from 'tap';
import * as zlib from 'zlib';
import * as fs from 'fs';
import * as path from 'path';
import { BufferSource, FileSource, ZipReader, zipToBuffer } from '../../lib/io/core';
import { crc32 } from '../../lib/io/crc32';
import { noTorchReason, py, tmpDir } from './helpers';

const entries = [
  { name: 'a/data.pkl', data: Buffer.from('hello pickle') },
  { name: 'a/data/0', data: Buffer.alloc(1000, 7) },
  { name: 'a/empty', data: Buffer.alloc(0) },
  { name: 'a/data/1', data: Buffer.from([1, 2, 3]) },
  { name: 'a/\u00fcnicode', data: Buffer.from('x') },
];

/** Offsets of each entry's data, parsed by hand from local headers. */
function dataOffsets(buf: Buffer): number[] {
  const out: number[] = [];
  let p = 0;
  while (buf.readUInt32LE(p) === 0x04034b50) {
    const n = buf.readUInt16LE(p + 26);
    const m = buf.readUInt16LE(p + 28);
    let size = buf.readUInt32LE(p + 18);
    if (size === 0xffffffff) size = Number(buf.readBigUInt64LE(p + 30 + n + 12));
    out.push(p + 30 + n + m);
    p += 30 + n + m + size;
  }
  return out;
}

t.test('writer: stored entries aligned to 64 bytes with a FB padding field; reader round trip', async (t) => {
  for (const forceZip64 of [false, true]) {
    const buf = Buffer.from(zipToBuffer(entries, { forceZip64 }));
    const offs = dataOffsets(buf);
    t.equal(offs.length, entries.length);
    t.ok(
      offs.every((o) => o % 64 === 0),
      `zip64=${forceZip64}: data offsets ${offs.join(',')} are 64-aligned`,
    );
    const zip = await ZipReader.open(new BufferSource(buf));
    t.same(
      zip.entries.map((e) => e.name),
      entries.map((e) => e.name),
    );
    for (const e of entries) {
      const z = zip.get(e.name)!;
      t.equal(z.method, 0);
      t.equal(z.crc32, crc32(e.data));
      t.same(Buffer.from(await zip.read(z)), e.data, `${e.name} round trips`);
    }
  }
});

t.test('crc32 matches zlib', async (t) => {
  const b = Buffer.from('The quick brown fox jumps over the lazy dog');
  t.equal(crc32(b), 0x414fa339);
  t.equal(crc32(new Uint8Array(0)), 0);
  t.equal(crc32(b.subarray(10), crc32(b.subarray(0, 10))), 0x414fa339, 'incremental');
});

/** A minimal hand-made zip with one deflated entry. */
function deflatedZip(name: string, data: Buffer, lieSize?: number): Buffer {
  const packed = zlib.deflateRawSync(data);
  const nameB = Buffer.from(name);
  const local = Buffer.alloc(30);
  local.writeUInt32LE(0x04034b50, 0);
  local.writeUInt16LE(20, 4);
  local.writeUInt16LE(8, 8);
  local.writeUInt32LE(crc32(data), 14);
  local.writeUInt32LE(packed.length, 18);
  local.writeUInt32LE(lieSize ?? data.length, 22);
  local.writeUInt16LE(nameB.length, 26);
  const cd = Buffer.alloc(46);
  cd.writeUInt32LE(0x02014b50, 0);
  cd.writeUInt16LE(20, 6);
  cd.writeUInt16LE(8, 10);
  cd.writeUInt32LE(crc32(data), 16);
  cd.writeUInt32LE(packed.length, 20);
  cd.writeUInt32LE(lieSize ?? data.length, 24);
  cd.writeUInt16LE(nameB.length, 28);
  const cdOff = 30 + nameB.length + packed.length;
  const eocd = Buffer.alloc(22);
  eocd.writeUInt32LE(0x06054b50, 0);
  eocd.writeUInt16LE(1, 8);
  eocd.writeUInt16LE(1, 10);
  eocd.writeUInt32LE(46 + nameB.length, 12);
  eocd.writeUInt32LE(cdOff, 16);
  return Buffer.concat([local, nameB, packed, cd, nameB, eocd]);
}

t.test('deflated entries are inflated and checked', async (t) => {
  const data = Buffer.from('abcabcabc'.repeat(1000));
  const zip = await ZipReader.open(new BufferSource(deflatedZip('x', data)));
  t.same(Buffer.from(await zip.read(zip.get('x')!)), data);
  const liar = await ZipReader.open(new BufferSource(deflatedZip('x', data, data.length + 5)));
  await t.rejects(liar.read(liar.get('x')!), { code: 'ERR_CHECKPOINT_CORRUPT', message: /inflated to 9000 bytes, expected 9005/ });
  const bomb = await ZipReader.open(new BufferSource(deflatedZip('x', Buffer.alloc(10), 0x7fffffff)));
  await t.rejects(bomb.read(bomb.get('x')!), { code: 'ERR_CHECKPOINT_CORRUPT', message: /impossible size/ });
});

t.test("readInto: stored and deflated entries straight into the caller's memory, with the same checks", async (t) => {
  const { dir, cleanup } = tmpDir();
  t.teardown(cleanup);
  const buf = Buffer.from(zipToBuffer(entries));
  const f = path.join(dir, 'r.zip');
  fs.writeFileSync(f, buf);
  const file = await FileSource.open(f);
  t.teardown(() => file.close());
  for (const [what, src] of [
    ['memory', new BufferSource(buf)],
    ['file', file],
  ] as const) {
    const zip = await ZipReader.open(src);
    for (const e of entries) {
      const dest = new Uint8Array(e.data.length).fill(0xee);
      await zip.readInto(zip.get(e.name)!, dest);
      t.same(Buffer.from(dest), e.data, `${what}: ${e.name} read into the given buffer`);
    }
    const head = new Uint8Array(10);
    await zip.readInto(zip.get('a/data/0')!, head);
    t.same(Buffer.from(head), Buffer.alloc(10, 7), `${what}: a prefix (the rest still read for the CRC)`);
    await t.rejects(zip.readInto(zip.get('a/data/1')!, new Uint8Array(4)), { code: 'ERR_CHECKPOINT_CORRUPT', message: /holds 3 bytes, 4 were asked for/ });
  }
  // CRC: checked over the whole entry, also when only a prefix is wanted; deferred variant
  const bad = Buffer.from(buf);
  const cdOff = bad.readUInt32LE(bad.length - 22 + 16);
  const second = cdOff + 46 + Buffer.byteLength('a/data.pkl'); // central record of a/data/0
  bad.writeUInt32LE(12345, second + 16);
  const zb = await ZipReader.open(new BufferSource(bad));
  await t.rejects(zb.readInto(zb.get('a/data/0')!, new Uint8Array(10)), { code: 'ERR_CHECKPOINT_CORRUPT', message: /CRC-32 mismatch in 'a\/data\/0'/ });
  const verify = await zb.readIntoDeferred(zb.get('a/data/0')!, new Uint8Array(1000));
  t.throws(verify, { code: 'ERR_CHECKPOINT_CORRUPT', message: /CRC-32 mismatch/ }, 'the deferred check reports the mismatch');
  await zb.readInto(zb.get('a/data/0')!, new Uint8Array(1000), { verifyCrc: false });
  t.pass('verifyCrc: false skips it');

  const data = Buffer.from('abcabcabc'.repeat(100000));
  const zd = await ZipReader.open(new BufferSource(deflatedZip('x', data)));
  const out = new Uint8Array(data.length);
  await zd.readInto(zd.get('x')!, out);
  t.same(Buffer.compare(Buffer.from(out), data), 0, 'deflated entry inflated into the buffer (in pieces)');
  const part = new Uint8Array(5);
  await zd.readInto(zd.get('x')!, part);
  t.same(Buffer.from(part).toString(), 'abcab', 'a prefix of a deflated entry');
  const liar = await ZipReader.open(new BufferSource(deflatedZip('x', data, data.length + 5)));
  await t.rejects(liar.readInto(liar.get('x')!, new Uint8Array(data.length)), {
    code: 'ERR_CHECKPOINT_CORRUPT',
    message: /inflated to 900000 bytes, expected 900005/,
  });
  const short = await ZipReader.open(new BufferSource(deflatedZip('x', data, data.length - 5)));
  await t.rejects(short.readInto(short.get('x')!, new Uint8Array(10)), { code: 'ERR_CHECKPOINT_CORRUPT', message: /inflates to more than the 899995 bytes/ });
  const bomb = await ZipReader.open(new BufferSource(deflatedZip('x', Buffer.alloc(10), 0x7fffffff)));
  await t.rejects(bomb.readInto(bomb.get('x')!, new Uint8Array(10)), { code: 'ERR_CHECKPOINT_CORRUPT', message: /impossible size/ });
  const garbled = deflatedZip('x', data);
  garbled.fill(0xff, 40, 60);
  const zg = await ZipReader.open(new BufferSource(garbled));
  await t.rejects(zg.readInto(zg.get('x')!, new Uint8Array(data.length)), {
    code: 'ERR_CHECKPOINT_CORRUPT',
    message: /cannot inflate|inflated to|inflates to more|CRC-32/,
  });
  const crcBad = deflatedZip('x', data);
  crcBad.writeUInt32LE(1, crcBad.length - 22 - 46 - 1 + 16);
  const zc = await ZipReader.open(new BufferSource(crcBad));
  await t.rejects(zc.readInto(zc.get('x')!, new Uint8Array(data.length)), { code: 'ERR_CHECKPOINT_CORRUPT', message: /CRC-32 mismatch/ });
});

t.test('lying or broken headers give ERR_CHECKPOINT_CORRUPT', async (t) => {
  const good = Buffer.from(zipToBuffer(entries));
  const eocd = good.length - 22;
  const cdOff = good.readUInt32LE(eocd + 16);
  const cases: [string, (b: Buffer) => void, RegExp][] = [
    ['central directory offset past the end', (b) => b.writeUInt32LE(good.length + 10, eocd + 16), /central directory/],
    ['central directory size too large', (b) => b.writeUInt32LE(0x7fffffff, eocd + 12), /central directory/],
    [
      'entry count too large',
      (b) => {
        b.writeUInt16LE(900, eocd + 8);
        b.writeUInt16LE(900, eocd + 10);
      },
      /entries cannot fit|truncated|signature/,
    ],
    [
      'entry size too large',
      (b) => {
        b.writeUInt32LE(5000, cdOff + 20);
        b.writeUInt32LE(5000, cdOff + 24);
      },
      /overlaps|runs into/,
    ],
    ['local header offset lies', (b) => b.writeUInt32LE(3, cdOff + 42), /overlaps|signature|runs into/],
    ['compressed != uncompressed for stored', (b) => b.writeUInt32LE(3, cdOff + 20), /stored entry/],
    ['CRC mismatch', (b) => b.writeUInt32LE(12345, cdOff + 16), /CRC-32 mismatch/],
    ['bad signature in central directory', (b) => b.writeUInt32LE(0, cdOff), /signature/],
    ['no end record', (b) => b.writeUInt32LE(0, eocd), /end-of-central-directory/],
  ];
  for (const [what, mutate, re] of cases) {
    const b = Buffer.from(good);
    mutate(b);
    await t.rejects(
      (async () => {
        const zip = await ZipReader.open(new BufferSource(b));
        for (const e of zip.entries) await zip.read(e);
      })(),
      { code: 'ERR_CHECKPOINT_CORRUPT', message: re },
      what,
    );
    await t.rejects(
      (async () => {
        const zip = await ZipReader.open(new BufferSource(b));
        for (const e of zip.entries) await zip.readInto(e, new Uint8Array(Math.min(e.uncompressedSize, 1 << 20)));
      })(),
      { code: 'ERR_CHECKPOINT_CORRUPT', message: re },
      `${what} (readInto)`,
    );
  }
  const dup = Buffer.from(
    zipToBuffer([
      { name: 'a', data: Buffer.from('1') },
      { name: 'b', data: Buffer.from('2') },
    ]),
  );
  const cd2 = dup.readUInt32LE(dup.length - 22 + 16);
  dup.write('a', cd2 + 46 + 1 + 46, 'latin1'); // rename the second central record to 'a'
  await t.rejects(ZipReader.open(new BufferSource(dup)), { code: 'ERR_CHECKPOINT_CORRUPT', message: /duplicate entry/ });
  await t.rejects(ZipReader.open(new BufferSource(Buffer.alloc(10))), { code: 'ERR_CHECKPOINT_CORRUPT' });
});

t.test('file source reads pieces and checks ranges', async (t) => {
  const { dir, cleanup } = tmpDir();
  t.teardown(cleanup);
  const f = path.join(dir, 'z.zip');
  fs.writeFileSync(f, zipToBuffer(entries, { forceZip64: true }));
  const src = await FileSource.open(f);
  t.teardown(() => src.close());
  const zip = await ZipReader.open(src);
  t.same(Buffer.from(await zip.read(zip.get('a/data/0')!)), entries[1].data);
  await t.rejects(src.read(src.size - 2, 5, 'probe'), { code: 'ERR_CHECKPOINT_CORRUPT', message: /outside the file/ });
  const fh = await fs.promises.open(f, 'r');
  const viaHandle = await FileSource.fromHandle(fh, f);
  const z2 = await ZipReader.open(viaHandle);
  t.same(Buffer.from(await z2.read(z2.get('a/data/1')!)), entries[3].data, 'a caller-opened file handle works too');
  await viaHandle.close();
  t.ok((await fh.stat()).size > 0, 'the caller still owns the handle');
  await fh.close();
});

t.test('Python zipfile reads what we write, we read what it writes (incl. ZIP64 and deflate)', { skip: noTorchReason() }, async (t) => {
  const { dir, cleanup } = tmpDir();
  t.teardown(cleanup);
  const ours = path.join(dir, 'ours.zip');
  fs.writeFileSync(ours, zipToBuffer(entries, { forceZip64: true }));
  const listing = py(
    `import sys, zipfile, hashlib
z = zipfile.ZipFile(sys.argv[1]); assert z.testzip() is None
print(';'.join('%s=%s' % (i.filename, hashlib.sha256(z.read(i)).hexdigest()[:8]) for i in z.infolist()))`,
    [ours],
  ).trim();
  t.equal(listing.split(';').length, entries.length, 'Python zipfile lists and CRC-checks every entry');
  const theirs = path.join(dir, 'theirs.zip');
  py(
    `import sys, zipfile
with zipfile.ZipFile(sys.argv[1], 'w') as z:
    with z.open('big', 'w', force_zip64=True) as f: f.write(b'x' * 100000)
    z.writestr(zipfile.ZipInfo('deflated'), b'y' * 5000, compress_type=zipfile.ZIP_DEFLATED)
    z.writestr('plain', b'z')`,
    [theirs],
  );
  const zip = await ZipReader.open(new BufferSource(fs.readFileSync(theirs)));
  t.same(Buffer.from(await zip.read(zip.get('big')!)), Buffer.alloc(100000, 'x'));
  t.same(Buffer.from(await zip.read(zip.get('deflated')!)), Buffer.alloc(5000, 'y'));
  t.same(Buffer.from(await zip.read(zip.get('plain')!)), Buffer.from('z'));
});
