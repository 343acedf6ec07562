import t from 'tap';
import * as fs from 'fs';
import * as path from 'path';
import { openSource, scanFolderLayout, loadManifest, sourceFromFiles, LabelMap, folderLabelNames } from '../../lib/data/sources';
import { parseCsv } from '../../lib/data/csv';
import { tmpDir } from './helpers';

function touch(root: string, rel: string, content = 'x'): string {
  const p = path.join(root, rel);
  fs.mkdirSync(path.dirname(p), { recursive: true });
  fs.writeFileSync(p, content);
  return p;
}

t.test('LabelMap: sorted by code point, persisted, strict', async (t) => {
  const m = LabelMap.fromNames(['sad', 'Happy', 'angry', 'émotion', 'zz', 'sad']);
  t.same(m.names, ['Happy', 'angry', 'sad', 'zz', 'émotion'], 'Python sorted() order, duplicates merged');
  t.equal(m.index('sad'), 2);
  t.equal(m.name(4), 'émotion');
  t.same([...m.encode('zz')], [0, 0, 0, 1, 0]);
  t.same([...m.encode(['Happy', 'sad'])], [1, 0, 1, 0, 0]);
  t.throws(() => m.index('neutral'), { code: 'ERR_DATASET', message: /unknown label "neutral" \(known: Happy, angry, sad, zz, émotion\)/ });
  t.throws(() => m.name(5), { code: 'ERR_DATASET' });
  const { dir, cleanup } = tmpDir();
  t.teardown(cleanup);
  const f = path.join(dir, 'labels.json');
  await m.save(f);
  const back = await LabelMap.load(f);
  t.ok(back.equals(m));
  t.same(JSON.parse(fs.readFileSync(f, 'utf8')), { format: 'social-mae-labels', version: 1, task: 'classification', names: m.names });
  // the stored order is authoritative: never re-sorted on load
  t.same(LabelMap.fromJSON({ names: ['b', 'a'] }).names, ['b', 'a']);
  t.same(LabelMap.fromJSON(['x', 'y']).names, ['x', 'y']);
  const traits = LabelMap.regression(['openness', 'conscientiousness', 'extraversion', 'agreeableness', 'neuroticism']);
  t.equal(traits.task, 'regression');
  t.equal(traits.name(0), 'openness');
  t.same(LabelMap.fromCount(3).names, ['0', '1', '2']);
  t.throws(() => LabelMap.fromJSON({ names: ['a', 'a'] }), { code: 'ERR_DATASET' });
  t.throws(() => LabelMap.fromJSON({ nope: 1 }), { code: 'ERR_DATASET' });
  await t.rejects(LabelMap.load(path.join(dir, 'none.json')), { code: 'ERR_FILE_NOT_FOUND' });
  fs.writeFileSync(path.join(dir, 'bad.json'), '{oops');
  await t.rejects(LabelMap.load(path.join(dir, 'bad.json')), { code: 'ERR_DATASET', message: /bad\.json/ });
});

t.test('parseCsv', async (t) => {
  const rows = parseCsv('\ufeffa,b,c\r\n1,"x, ""y""",3\r\n\r\n4,"multi\nline",6\n');
  t.same(
    rows.map((r) => r.fields),
    [
      ['a', 'b', 'c'],
      ['1', 'x, "y"', '3'],
      ['4', 'multi\nline', '6'],
    ],
  );
  t.same(
    rows.map((r) => r.line),
    [1, 2, 4],
  );
  t.same(
    parseCsv('a\tb\n1\t2').map((r) => r.fields),
    [
      ['a', 'b'],
      ['1', '2'],
    ],
  );
  t.same(
    parseCsv('a;b\n1;2').map((r) => r.fields),
    [
      ['a', 'b'],
      ['1', '2'],
    ],
  );
  t.same(
    parseCsv('a,b\n1,').map((r) => r.fields),
    [
      ['a', 'b'],
      ['1', ''],
    ],
  );
  t.throws(() => parseCsv('a,b\n"1,2\n'), { code: 'ERR_DATASET', message: /line 2/ });
});

t.test('reference folder layout', async (t) => {
  const { dir, cleanup } = tmpDir();
  t.teardown(cleanup);
  // created in non-sorted order on purpose
  touch(dir, 'video/train/sad/spk2/b.mp4');
  touch(dir, 'video/train/happy/spk1/a.mp4');
  touch(dir, 'video/train/happy/spk1/c.mp4');
  touch(dir, 'video/train/Angry/spk3/d.mkv');
  touch(dir, 'video/train/happy/spk1/notes.txt');
  touch(dir, 'video/test/neutral/spk9/e.mp4');
  touch(dir, 'audio/train/sad/spk2/b.wav');
  touch(dir, 'audio/train/happy/spk1/a.wav');
  touch(dir, 'audio/train/happy/spk1/zzz.wav');
  t.same(await folderLabelNames(dir), ['Angry', 'happy', 'neutral', 'sad'], 'all partitions, sorted');
  const src = await scanFolderLayout(dir, { partition: 'train' });
  t.equal(src.kind, 'folder');
  t.equal(src.task, 'classification');
  t.same(src.labels!.names, ['Angry', 'happy', 'neutral', 'sad']);
  t.same(
    src.items.map((i) => i.id),
    ['Angry/spk3/d', 'happy/spk1/a', 'happy/spk1/c', 'sad/spk2/b'],
  );
  t.same(
    src.items.map((i) => i.label),
    [0, 1, 1, 3],
  );
  const a = src.items[1]!;
  t.equal(a.video, path.join(dir, 'video/train/happy/spk1/a.mp4'));
  t.equal(a.audio, path.join(dir, 'audio/train/happy/spk1/a.wav'));
  t.equal(a.audioFromVideo, false);
  const c = src.items[2]!;
  t.equal(c.audio, c.video, 'no wav: audio from the video');
  t.equal(c.audioFromVideo, true);
  t.ok(src.warnings.some((w) => /2 of 4 videos have no audio file/.test(w)));
  t.ok(src.warnings.some((w) => /1 audio files .* no matching video/.test(w)));
  await t.rejects(scanFolderLayout(dir, { partition: 'train', requireAudio: true }), {
    code: 'ERR_FILE_NOT_FOUND',
    message: /2 of 4 videos have no matching audio file.*d\.mkv/,
  });
  await t.rejects(scanFolderLayout(dir, { partition: 'val' }), { code: 'ERR_FILE_NOT_FOUND', message: /partitions found: test, train/ });
  await t.rejects(scanFolderLayout(dir, { partition: 'train', labels: LabelMap.fromNames(['happy', 'sad']) }), {
    code: 'ERR_DATASET',
    message: /"Angry" is not in the label map/,
  });
  const test = await openSource(dir, { partition: 'test', labels: src.labels! });
  t.same(
    test.items.map((i) => i.label),
    [2],
    'test partition uses the training label map',
  );
  await t.rejects(openSource(dir), { code: 'ERR_INVALID_ARG' });
  await t.rejects(openSource(path.join(dir, 'nothing')), { code: 'ERR_FILE_NOT_FOUND' });
});

t.test('CSV manifests', async (t) => {
  const { dir, cleanup } = tmpDir();
  t.teardown(cleanup);
  touch(dir, 'clips/a.mp4');
  touch(dir, 'clips/b.mp4');
  touch(dir, 'clips/c.mp4');
  touch(dir, 'wav/a.wav');
  const abs = touch(dir, 'elsewhere/d.mp4');
  const csv = touch(
    dir,
    'train.csv',
    ['video,audio,label,start_time', 'clips/a.mp4,wav/a.wav,sad,1.5', '"clips/b.mp4",,happy,', `${abs},,sad,`, 'clips/c.mp4,,"neutral",0'].join('\n'),
  );
  const src = await loadManifest(csv);
  t.equal(src.kind, 'csv');
  t.equal(src.task, 'classification');
  t.same(src.labels!.names, ['happy', 'neutral', 'sad']);
  t.same(
    src.items.map((i) => i.label),
    [2, 0, 2, 1],
  );
  t.equal(src.items[0]!.audio, path.join(dir, 'wav/a.wav'));
  t.equal(src.items[0]!.startTime, 1.5);
  t.equal(src.items[1]!.audio, path.join(dir, 'clips/b.mp4'));
  t.equal(src.items[1]!.audioFromVideo, true);
  t.equal(src.items[2]!.video, abs);
  t.equal(src.items[0]!.origin, 'train.csv:2');
  // a saved label map is used as is; unknown labels are errors with the line
  const withMap = await loadManifest(csv, { labels: LabelMap.fromNames(['happy', 'neutral', 'sad', 'angry']) });
  t.same(
    withMap.items.map((i) => i.label),
    [3, 1, 3, 2],
  );
  await t.rejects(loadManifest(csv, { labels: LabelMap.fromNames(['happy', 'sad']) }), {
    code: 'ERR_DATASET',
    message: /train\.csv:5: unknown label "neutral"/,
  });

  const miss = touch(dir, 'missing.csv', 'video,label\nclips/a.mp4,x\nclips/zz.mp4,y\nclips/yy.mp4,y\n');
  await t.rejects(loadManifest(miss), {
    code: 'ERR_FILE_NOT_FOUND',
    message: /2 of 3 items reference missing files: missing\.csv:3: .*zz\.mp4; missing\.csv:4: .*yy\.mp4/,
  });
  const skipped = await loadManifest(miss, { missing: 'skip' });
  t.equal(skipped.items.length, 1);
  t.same(
    skipped.skipped.map((s) => s.origin),
    ['missing.csv:3', 'missing.csv:4'],
  );
  t.equal((await loadManifest(miss, { checkFiles: false })).items.length, 3);

  const multi = touch(dir, 'multi.csv', 'video,label\nclips/a.mp4,laugh|speech\nclips/b.mp4,speech\n');
  const m = await loadManifest(multi);
  t.equal(m.task, 'multilabel');
  t.same(
    m.items.map((i) => i.target),
    [
      [1, 1],
      [0, 1],
    ],
  );

  const ocean = touch(dir, 'ocean.csv', 'video,O,C,E,A,N\nclips/a.mp4,0.1,0.2,0.3,0.4,0.5\nclips/b.mp4,1,1,1,1,1\n');
  const r = await loadManifest(ocean, { targetColumns: ['O', 'C', 'E', 'A', 'N'] });
  t.equal(r.task, 'regression');
  t.same(r.labels!.names, ['O', 'C', 'E', 'A', 'N']);
  t.same(r.items[0]!.target, [0.1, 0.2, 0.3, 0.4, 0.5]);
  const vec = touch(dir, 'vec.csv', 'video,target\nclips/a.mp4,"[0.5, 1.5]"\nclips/b.mp4,1;2\n');
  t.same(
    (await loadManifest(vec)).items.map((i) => i.target),
    [
      [0.5, 1.5],
      [1, 2],
    ],
  );

  const numeric = touch(dir, 'numeric.csv', 'video,label\nclips/a.mp4,10\nclips/b.mp4,2\n');
  const n = await loadManifest(numeric);
  t.equal(n.labels!.size, 11, 'integer labels are indices in numeric order');
  t.same(
    n.items.map((i) => i.label),
    [10, 2],
  );

  const unlabeled = await loadManifest(touch(dir, 'u.csv', 'video\nclips/a.mp4\n'));
  t.equal(unlabeled.labels, null);
  t.equal(unlabeled.task, null);

  await t.rejects(loadManifest(touch(dir, 'bad1.csv', 'video,label\nclips/a.mp4\n')), {
    code: 'ERR_DATASET',
    message: /bad1\.csv:2: 1 fields, the header has 2/,
  });
  await t.rejects(loadManifest(touch(dir, 'bad2.csv', 'path,label\nclips/a.mp4,x\n')), { code: 'ERR_DATASET', message: /"video" or "audio" column/ });
  await t.rejects(loadManifest(touch(dir, 'bad3.csv', 'video,start_time\nclips/a.mp4,-3\n')), { code: 'ERR_DATASET', message: /bad3\.csv:2: start_time/ });
  await t.rejects(loadManifest(touch(dir, 'bad4.csv', 'video,O\nclips/a.mp4,1\n'), { targetColumns: ['O', 'C'] }), {
    code: 'ERR_DATASET',
    message: /target column "C"/,
  });
  await t.rejects(loadManifest(path.join(dir, 'none.csv')), { code: 'ERR_FILE_NOT_FOUND' });
});

t.test('JSONL manifests', async (t) => {
  const { dir, cleanup } = tmpDir();
  t.teardown(cleanup);
  touch(dir, 'a.mp4');
  touch(dir, 'b.mp4');
  touch(dir, 'a.wav');
  const f = touch(
    dir,
    'm.jsonl',
    [
      JSON.stringify({ video: 'a.mp4', audio: 'a.wav', label: 'yes', start_frame: 12 }),
      '',
      JSON.stringify({ id: 'clip-b', video: 'b.mp4', label: 'no', startTime: 2 }),
    ].join('\n'),
  );
  const s = await loadManifest(f);
  t.equal(s.kind, 'jsonl');
  t.same(s.labels!.names, ['no', 'yes']);
  t.same(
    s.items.map((i) => [i.id, i.label, i.startFrame, i.startTime]),
    [
      ['a.mp4', 1, 12, undefined],
      ['clip-b', 0, undefined, 2],
    ],
  );
  t.equal(s.items[1]!.origin, 'm.jsonl:3');
  const idx = await loadManifest(touch(dir, 'i.jsonl', '{"video":"a.mp4","label":2}\n{"video":"b.mp4","label":0}\n'));
  t.same(
    idx.items.map((i) => i.label),
    [2, 0],
  );
  t.equal(idx.labels!.size, 3);
  const vec = await loadManifest(touch(dir, 'v.jsonl', '{"video":"a.mp4","label":[0,1,0]}\n{"video":"b.mp4","label":[1,0,0]}\n'));
  t.equal(vec.task, 'multilabel');
  t.same(
    vec.items.map((i) => i.target),
    [
      [0, 1, 0],
      [1, 0, 0],
    ],
  );
  const names = await loadManifest(touch(dir, 'n.jsonl', '{"video":"a.mp4","label":["x","y"]}\n'));
  t.same(names.items[0]!.target, [1, 1]);
  const reg = await loadManifest(touch(dir, 'r.jsonl', '{"audio":"a.wav","target":[0.5,0.25]}\n'));
  t.equal(reg.task, 'regression');
  t.equal(reg.items[0]!.video, null, 'audio-only item');
  t.same(reg.items[0]!.target, [0.5, 0.25]);
  await t.rejects(loadManifest(touch(dir, 'bad.jsonl', '{"video":"a.mp4"}\n{oops}\n')), { code: 'ERR_DATASET', message: /bad\.jsonl:2: invalid JSON/ });
  await t.rejects(loadManifest(touch(dir, 'bad2.jsonl', '{"video":"a.mp4","label":[1,"x"]}\n')), {
    code: 'ERR_DATASET',
    message: /bad2\.jsonl:1: label must be/,
  });
  await t.rejects(loadManifest(touch(dir, 'bad3.jsonl', '{"label":"x"}\n')), { code: 'ERR_DATASET', message: /neither a video nor an audio path/ });
  await t.rejects(loadManifest(touch(dir, 'bad4.jsonl', '{"video":"a.mp4","label":[0,1]}\n{"video":"b.mp4","label":[1,0,0]}\n')), {
    code: 'ERR_DATASET',
    message: /different lengths/,
  });
});

t.test('sourceFromFiles', async (t) => {
  const { dir, cleanup } = tmpDir();
  t.teardown(cleanup);
  const v = touch(dir, 'x.mp4');
  const a = touch(dir, 'y.wav');
  const s = await sourceFromFiles([v, a]);
  t.same(
    s.items.map((i) => [i.video, i.audio, i.audioFromVideo]),
    [
      [v, v, true],
      [null, a, false],
    ],
  );
  await t.rejects(sourceFromFiles([path.join(dir, 'z.mp4')]), { code: 'ERR_FILE_NOT_FOUND', message: /z\.mp4/ });
});
