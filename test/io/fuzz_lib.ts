/**
 * Checkpoint fuzzing, shared by test/io/fuzz.test.ts (a few thousand cases per run) and
 * scripts/fuzz-checkpoints.js (100k+ on demand). Not a test file itself.
 *
 * Seeds are small real checkpoints (zip protocol 2 and 4, legacy, safetensors); each case applies
 * one mutation - bit flips, random bytes in the pickle, truncation, zip/safetensors header fields
 * set to lies, pickle token edits (absurd ints for sizes/strides/offsets, swapped globals, deleted
 * or duplicated opcodes) re-zipped so they reach the unpickler - and loads the result. A case passes
 * when it loads (and every loaded tensor can be gathered) or throws an Error with a known `code`.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import {
  BufferSource,
  RawTensor,
  ZipReader,
  readCheckpointRaw,
  readCheckpointRawFile,
  serializeSafetensorsRaw,
  unpickle,
  zipToBuffer,
  RawStorage,
  DTYPE_INFO,
  type RawValue,
} from '../../lib/io/core';
import { crc32 } from '../../lib/io/crc32';

export const KNOWN_CODES = new Set(['ERR_CHECKPOINT_CORRUPT', 'ERR_UNSAFE_PICKLE', 'ERR_CHECKPOINT_UNSUPPORTED']);

type Rand = () => number;

export interface Seed {
  name: string;
  bytes: Buffer;
  kind: 'zip' | 'legacy' | 'safetensors';
  /** byte range of the object pickle (zip: data.pkl's data; legacy: the object pickle) */
  pkl?: [number, number];
  /** zip: all entries, to re-zip after pickle edits */
  entries?: { name: string; data: Uint8Array }[];
  /** offsets of integer header fields that may be set to lies: [offset, width] */
  fields: [number, number][];
}

/** Deterministic PRNG (mulberry32). */
export function makeRng(seed: number): Rand {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const int = (r: Rand, n: number): number => Math.floor(r() * n);
const pick = <T>(r: Rand, xs: readonly T[]): T => xs[int(r, xs.length)];

/** Field positions of zip records (EOCD, central and local headers). */
function zipFields(b: Buffer): [number, number][] {
  const f: [number, number][] = [];
  const eocd = b.lastIndexOf(Buffer.from([0x50, 0x4b, 5, 6]));
  if (eocd < 0) return f;
  f.push([eocd + 8, 2], [eocd + 10, 2], [eocd + 12, 4], [eocd + 16, 4]);
  let p = b.readUInt32LE(eocd + 16);
  const n = b.readUInt16LE(eocd + 10);
  for (let i = 0; i < n && p + 46 <= b.length && b.readUInt32LE(p) === 0x02014b50; i++) {
    f.push([p + 10, 2], [p + 16, 4], [p + 20, 4], [p + 24, 4], [p + 28, 2], [p + 30, 2], [p + 42, 4]);
    const local = b.readUInt32LE(p + 42);
    if (local + 30 <= b.length) f.push([local + 18, 4], [local + 22, 4], [local + 26, 2], [local + 28, 2]);
    p += 46 + b.readUInt16LE(p + 28) + b.readUInt16LE(p + 30) + b.readUInt16LE(p + 32);
  }
  return f;
}

/** Builds the seeds from the fixtures folder. */
export async function loadSeeds(fixDir: string): Promise<Seed[]> {
  const seeds: Seed[] = [];
  for (const name of ['pos_embed.pt', 'zip_p4_small.pt', 'ft_io.pt']) {
    const bytes = fs.readFileSync(path.join(fixDir, name));
    const zip = await ZipReader.open(new BufferSource(bytes));
    const entries = [];
    for (const e of zip.entries) entries.push({ name: e.name, data: Buffer.from(await zip.read(e)) });
    const pklName = entries.find((e) => e.name.endsWith('/data.pkl'))!;
    const start = bytes.indexOf(Buffer.from(pklName.data));
    seeds.push({ name, bytes, kind: 'zip', pkl: [start, start + pklName.data.length], entries, fields: zipFields(bytes) });
  }
  {
    const name = 'legacy_small.pt';
    const bytes = fs.readFileSync(path.join(fixDir, name));
    let pos = 0;
    for (let i = 0; i < 3; i++) pos = unpickle(bytes, {}, pos).end;
    const dummy = (r: { key: string; dtype: keyof typeof DTYPE_INFO; numel: number }): RawStorage => new RawStorage(r.key, r.dtype, r.numel, null);
    const end = unpickle(bytes, { loadStorage: dummy }, pos).end;
    seeds.push({ name, bytes, kind: 'legacy', pkl: [pos, end], fields: [] });
  }
  {
    const v = (await readCheckpointRaw(path.join(fixDir, 'pos_embed.pt'))) as Map<string, RawTensor>;
    const small = [...v].slice(0, 4);
    small.push(['i64', RawTensor.fromBytes('int64', [2], new Uint8Array(16))]);
    const bytes = Buffer.from(serializeSafetensorsRaw(small, { k: 'v' }));
    seeds.push({ name: 'small.safetensors', bytes, kind: 'safetensors', fields: [[0, 8]] });
  }
  return seeds;
}

/** The big fixtures, used for a small share of cases. */
export function bigSeedFiles(fixDir: string): string[] {
  return ['ft_state_dict.pt', 'video_frames.pt'].map((f) => path.join(fixDir, f)).filter((f) => fs.existsSync(f));
}

// --- pickle token edits -----------------------------------------------------------------------

const FIXED: Record<number, number> = {
  0x80: 1,
  0x71: 1,
  0x72: 4,
  0x68: 1,
  0x6a: 4,
  0x4b: 1,
  0x4d: 2,
  0x4a: 4,
  0x47: 8,
  0x95: 8,
  0x82: 1,
  0x83: 2,
  0x84: 4,
};
const VAR: Record<number, number> = { 0x58: 4, 0x8c: 1, 0x8a: 1, 0x43: 1, 0x42: 4, 0x55: 1, 0x54: 4, 0x8b: 4 };

/** Splits a pickle into opcode tokens [start, end) (stops at the first opcode it cannot size). */
export function tokens(p: Uint8Array): [number, number][] {
  const out: [number, number][] = [];
  let i = 0;
  while (i < p.length) {
    const op = p[i];
    let len = 1;
    if (op in FIXED) len += FIXED[op];
    else if (op in VAR) {
      const w = VAR[op];
      if (i + 1 + w > p.length) break;
      const n = w === 1 ? p[i + 1] : new DataView(p.buffer, p.byteOffset + i + 1, 4).getUint32(0, true);
      len += w + n;
    } else if (op === 0x63) {
      const a = p.indexOf(0x0a, i + 1);
      const b = a < 0 ? -1 : p.indexOf(0x0a, a + 1);
      if (b < 0) break;
      len = b + 1 - i;
    }
    if (i + len > p.length) break;
    out.push([i, i + len]);
    i += len;
  }
  return out;
}

const ABSURD = [0, 1, -1, 2, 7, 255, 65535, 2 ** 31 - 1, -(2 ** 31), 2 ** 32, 2 ** 40, 2 ** 53, 2 ** 62, -(2 ** 62), 1e6, 12, 13, 64];
const GLOBALS = [
  'torch\nLongStorage\n',
  'torch\nHalfStorage\n',
  'torch\nByteStorage\n',
  'torch\nBoolStorage\n',
  'torch\nComplexFloatStorage\n',
  'os\nsystem\n',
  'builtins\neval\n',
  'collections\nOrderedDict\n',
  'torch._utils\n_rebuild_tensor_v2\n',
  'torch._utils\n_rebuild_parameter\n',
  'torch\nSize\n',
  'torch.nn.modules.linear\nLinear\n',
  '_codecs\nencode\n',
];

function encodeInt(v: number): Buffer {
  if (v >= -(2 ** 31) && v < 2 ** 31) {
    const b = Buffer.alloc(5);
    b[0] = 0x4a;
    b.writeInt32LE(v, 1);
    return b;
  }
  const b = Buffer.alloc(10);
  b[0] = 0x8a;
  b[1] = 8;
  b.writeBigInt64LE(BigInt(v), 2);
  return b;
}

/** One random token-level edit of pickle `p`. */
export function editPickle(p: Uint8Array, r: Rand): Buffer {
  const toks = tokens(p);
  if (toks.length < 2) return Buffer.from(p);
  const [s, e] = pick(r, toks);
  const before = Buffer.from(p.subarray(0, s));
  const tok = Buffer.from(p.subarray(s, e));
  const after = Buffer.from(p.subarray(e));
  const k = int(r, 8);
  const ints = toks.filter(([a]) => [0x4b, 0x4d, 0x4a, 0x8a].includes(p[a]));
  if (k <= 2 && ints.length) {
    // absurd number (sizes, strides, offsets, numel, memo...)
    const [a, b] = pick(r, ints);
    return Buffer.concat([Buffer.from(p.subarray(0, a)), encodeInt(pick(r, ABSURD)), Buffer.from(p.subarray(b))]);
  }
  if (k === 3) return Buffer.concat([before, after]); // delete
  if (k === 4) return Buffer.concat([before, tok, tok, after]); // duplicate
  if (k === 5) {
    // swap with the next token
    const i = toks.findIndex(([a]) => a === s);
    if (i + 1 >= toks.length) return Buffer.concat([before, after]);
    const [s2, e2] = toks[i + 1];
    return Buffer.concat([before, Buffer.from(p.subarray(s2, e2)), tok, Buffer.from(p.subarray(e2))]);
  }
  const globals = toks.filter(([a]) => p[a] === 0x63);
  if (k === 6 && globals.length) {
    const [a, b] = pick(r, globals);
    return Buffer.concat([Buffer.from(p.subarray(0, a)), Buffer.from('c' + pick(r, GLOBALS), 'latin1'), Buffer.from(p.subarray(b))]);
  }
  // insert a random opcode byte (with a few argument bytes)
  const junk = Buffer.from([int(r, 256), int(r, 256), int(r, 4), 0, 0]);
  return Buffer.concat([before, junk.subarray(0, 1 + int(r, 5)), tok, after]);
}

// --- whole-file mutations ---------------------------------------------------------------------

export type Mutation = (seed: Seed, r: Rand) => Buffer;

function setField(b: Buffer, [off, width]: [number, number], r: Rand): void {
  const cur = width === 8 ? Number(b.readBigUInt64LE(off)) : width === 4 ? b.readUInt32LE(off) : b.readUInt16LE(off);
  const max = width === 2 ? 0xffff : width === 4 ? 0xffffffff : 2 ** 53;
  const v = pick(r, [0, max, cur + 1, cur - 1, cur + 64, cur * 2, b.length, b.length + 1, int(r, max + 1), Math.floor(cur / 2)]);
  const c = Math.max(0, Math.min(max, v));
  if (width === 8) b.writeBigUInt64LE(BigInt(c), off);
  else if (width === 4) b.writeUInt32LE(c >>> 0, off);
  else b.writeUInt16LE(c, off);
}

/** After editing data.pkl bytes in place, fix its CRC so that the edit reaches the unpickler. */
function fixPklCrc(seed: Seed, b: Buffer): void {
  if (seed.kind !== 'zip' || !seed.pkl) return;
  const eocd = b.lastIndexOf(Buffer.from([0x50, 0x4b, 5, 6]));
  if (eocd < 0) return;
  let p = b.readUInt32LE(eocd + 16);
  const n = b.readUInt16LE(eocd + 10);
  for (let i = 0; i < n && p + 46 <= b.length; i++) {
    const nameLen = b.readUInt16LE(p + 28);
    if (b.toString('utf8', p + 46, p + 46 + nameLen).endsWith('data.pkl')) {
      b.writeUInt32LE(crc32(b.subarray(seed.pkl[0], seed.pkl[1])), p + 16);
      return;
    }
    p += 46 + nameLen + b.readUInt16LE(p + 30) + b.readUInt16LE(p + 32);
  }
}

export const MUTATIONS: Record<string, Mutation> = {
  bitflip: (seed, r) => {
    const b = Buffer.from(seed.bytes);
    for (let i = 1 + int(r, 8); i > 0; i--) {
      const at = int(r, b.length);
      b[at] ^= 1 << int(r, 8);
    }
    return b;
  },
  pickle_bitflip: (seed, r) => {
    const b = Buffer.from(seed.bytes);
    const [s, e] = seed.pkl ?? [0, b.length];
    for (let i = 1 + int(r, 4); i > 0; i--) {
      const at = s + int(r, e - s);
      b[at] ^= 1 << int(r, 8);
    }
    fixPklCrc(seed, b);
    return b;
  },
  pickle_random_bytes: (seed, r) => {
    const b = Buffer.from(seed.bytes);
    const [s, e] = seed.pkl ?? [8, Math.min(b.length, 400)];
    const at = s + int(r, e - s);
    for (let i = int(r, 16) + 1; i > 0 && at + i < e; i--) b[at + i] = int(r, 256);
    fixPklCrc(seed, b);
    return b;
  },
  truncate: (seed, r) => seed.bytes.subarray(0, r() < 0.5 ? int(r, seed.bytes.length) : seed.bytes.length - 1 - int(r, 200)),
  append_junk: (seed, r) => Buffer.concat([seed.bytes, Buffer.from(Array.from({ length: 1 + int(r, 100) }, () => int(r, 256)))]),
  header_lie: (seed, r) => {
    const b = Buffer.from(seed.bytes);
    if (!seed.fields.length) return MUTATIONS.bitflip(seed, r);
    for (let i = 1 + int(r, 2); i > 0; i--) setField(b, pick(r, seed.fields), r);
    return b;
  },
  pickle_edit: (seed, r) => {
    if (seed.kind === 'safetensors') return MUTATIONS.safetensors_header(seed, r);
    if (!seed.pkl) return MUTATIONS.bitflip(seed, r);
    const pkl = seed.bytes.subarray(seed.pkl[0], seed.pkl[1]);
    let edited = editPickle(pkl, r);
    if (r() < 0.3) edited = editPickle(edited, r);
    if (seed.kind === 'legacy') return Buffer.concat([seed.bytes.subarray(0, seed.pkl[0]), edited, seed.bytes.subarray(seed.pkl[1])]);
    const entries = seed.entries!.map((e) => (e.name.endsWith('/data.pkl') ? { name: e.name, data: edited } : e));
    if (r() < 0.1) entries.splice(1 + int(r, entries.length - 1), 1); // drop a storage record too
    return Buffer.from(zipToBuffer(entries));
  },
  safetensors_header: (seed, r) => {
    if (seed.kind !== 'safetensors') return seed.pkl ? MUTATIONS.pickle_edit(seed, r) : MUTATIONS.bitflip(seed, r);
    const n = Number(seed.bytes.readBigUInt64LE(0));
    let h = seed.bytes.toString('utf8', 8, 8 + n);
    const nums = [...h.matchAll(/\d+/g)];
    const k = int(r, 4);
    if (k === 0 && nums.length) {
      const m = pick(r, nums);
      h = h.slice(0, m.index) + String(pick(r, [0, 1, 2 ** 53, 2 ** 64, 99999999999, -1, 1.5])) + h.slice(m.index! + m[0].length);
    } else if (k === 1) h = h.replace(/"F32"/, pick(r, ['"F31"', '"I64"', '"U8"', '1', 'null']));
    else if (k === 2) h = h.replace(/"data_offsets"/, pick(r, ['"data_offsets","data_offsets"', '"x"', '"shape"']));
    else {
      const at = int(r, h.length);
      h = h.slice(0, at) + pick(r, ['{', '}', '"', ',', '[', '\\', '\u0000']) + h.slice(at);
    }
    const hb = Buffer.from(h);
    const len = Buffer.alloc(8);
    len.writeBigUInt64LE(BigInt(hb.length));
    return Buffer.concat([len, hb, seed.bytes.subarray(8 + n)]);
  },
};

export const MUTATION_NAMES = Object.keys(MUTATIONS);

export interface CaseOutcome {
  /** 'ok', an error code, or 'FAIL' */
  outcome: string;
  message?: string;
  /** CPU time of the case (user + system of this process), ms */
  ms: number;
}

/** Walks a loaded tree and gathers every (reasonably sized) tensor: must not throw. */
function exercise(v: RawValue, seen = new Set<unknown>()): void {
  if (v === null || typeof v !== 'object' || seen.has(v)) return;
  seen.add(v);
  if (v instanceof RawTensor) {
    if (v.numel * DTYPE_INFO[v.dtype].itemsize <= 1 << 24) v.contiguousBytes();
  } else if (Array.isArray(v)) for (const x of v) exercise(x, seen);
  else if (v instanceof Map)
    for (const [k, x] of v) {
      exercise(k as RawValue, seen);
      exercise(x, seen);
    }
}

/** Loads `bytes` (from memory, or through a temp file when `viaFile`) and classifies the result. */
export async function runCase(bytes: Uint8Array, opts: { verifyCrc?: boolean; viaFile?: string; intoBuffers?: boolean } = {}): Promise<CaseOutcome> {
  const cpu0 = process.cpuUsage(); // CPU time, not wall time: other processes' load does not stretch it
  let outcome: string;
  let message: string | undefined;
  // `intoBuffers`: the readers read each storage into memory handed to them (as io.load does with
  // tensor memory) instead of allocating their own.
  const into = opts.intoBuffers ? { allocStorage: (s: { nbytes: number }) => new Uint8Array(s.nbytes) } : {};
  try {
    let v: RawValue;
    if (opts.viaFile) {
      fs.writeFileSync(opts.viaFile, bytes);
      v = (await readCheckpointRawFile(opts.viaFile, { verifyCrc: opts.verifyCrc, wholeFileLimit: 0, ...into })).value;
    } else v = await readCheckpointRaw(bytes, { verifyCrc: opts.verifyCrc, ...into });
    exercise(v);
    outcome = 'ok';
  } catch (e) {
    const code = (e as { code?: unknown })?.code;
    if (e instanceof Error && typeof code === 'string' && KNOWN_CODES.has(code)) outcome = code;
    else {
      outcome = 'FAIL';
      message = e instanceof Error ? `${e.name}: ${e.message} (code ${String(code)})\n${e.stack}` : `non-Error thrown: ${String(e)}`;
    }
  }
  const cpu = process.cpuUsage(cpu0);
  return { outcome, message, ms: (cpu.user + cpu.system) / 1e3 };
}

export interface FuzzSummary {
  cases: number;
  outcomes: Record<string, number>;
  byMutation: Record<string, Record<string, number>>;
  failures: { mutation: string; seed: string; caseIndex: number; message: string }[];
  /** Largest CPU time (user + system of this process, ms) one case took. */
  slowestMs: number;
  elapsedMs: number;
}

/** Runs `cases` cases from `rngSeed`; `progress` is called every 1000 cases. */
export async function fuzz(fixDir: string, cases: number, rngSeed: number, progress?: (done: number, s: FuzzSummary) => void): Promise<FuzzSummary> {
  const r = makeRng(rngSeed);
  const seeds = await loadSeeds(fixDir);
  const big = bigSeedFiles(fixDir).map((f) => fs.readFileSync(f));
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'smae-fuzz-'));
  const s: FuzzSummary = { cases: 0, outcomes: {}, byMutation: {}, failures: [], slowestMs: 0, elapsedMs: 0 };
  const t0 = Date.now();
  try {
    for (let i = 0; i < cases; i++) {
      const mutation = pick(r, MUTATION_NAMES);
      let seed = pick(r, seeds);
      if (big.length && r() < 0.01) {
        const bytes = pick(r, big);
        seed = { name: 'big', bytes, kind: 'zip', fields: zipFields(bytes) };
      }
      const bytes = MUTATIONS[mutation](seed, r);
      const res = await runCase(bytes, {
        verifyCrc: r() < 0.7,
        viaFile: r() < 0.02 ? path.join(tmp, `case.bin`) : undefined,
        intoBuffers: r() < 0.5,
      });
      s.cases++;
      s.outcomes[res.outcome] = (s.outcomes[res.outcome] ?? 0) + 1;
      const bm = (s.byMutation[mutation] ??= {});
      bm[res.outcome] = (bm[res.outcome] ?? 0) + 1;
      s.slowestMs = Math.max(s.slowestMs, res.ms);
      if (res.outcome === 'FAIL' && s.failures.length < 20) {
        s.failures.push({ mutation, seed: seed.name, caseIndex: i, message: res.message ?? '' });
      }
      if (progress && (i + 1) % 1000 === 0) progress(i + 1, s);
    }
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
  s.elapsedMs = Date.now() - t0;
  return s;
}
