/**
 * lib/cli/splits.ts in process (no decoding): with the reference folder layout, --train and --val read
 * their own partitions (train / val by default), the same partition twice is refused, a symlink to a
 * training clip is a training clip, and the recorded source description is stable and changes with the data.
 */
import t from 'tap';
import * as fs from 'fs';
import * as path from 'path';
import { command } from '../../lib/cli/commands/finetune';
import { openTrainingData } from '../../lib/cli/training';
import { checkDisjoint, describeSource, openSplit } from '../../lib/cli/splits';
import { tmpDir } from '../data/helpers';

function flags(argv: string[]) {
  const p = command.parse(argv);
  if (p.help) throw new Error('unexpected --help');
  return p.flags;
}

t.test('each split reads its own partition; the same one twice is refused', async (t) => {
  const { dir, cleanup } = tmpDir('smae-layout-');
  t.teardown(cleanup);
  const clip = (part: string, label: string, name: string) => {
    const d = path.join(dir, 'video', part, label);
    fs.mkdirSync(d, { recursive: true });
    fs.writeFileSync(path.join(d, name), `${part}/${label}/${name}`);
  };
  clip('train', 'happy', 'a.mp4');
  clip('train', 'sad', 'b.mp4');
  clip('train', 'sad', 'c.mp4');
  clip('val', 'happy', 'd.mp4');
  clip('val', 'sad', 'e.mp4');
  process.chdir(dir);

  const ok = await openTrainingData(flags(['--train', '.', '--val', '.', '--out', 'o']), { labels: true });
  t.same(
    ok.train.items.map((i) => i.id),
    ['happy/a', 'sad/b', 'sad/c'],
  );
  t.same(
    ok.val!.items.map((i) => i.id),
    ['happy/d', 'sad/e'],
  );
  t.match(ok.records, { train: { partition: 'train', items: 3, kind: 'folder' }, val: { partition: 'val', items: 2 } });

  await t.rejects(openTrainingData(flags(['--train', '.', '--val', '.', '--val-partition', 'train', '--out', 'o']), { labels: true }), {
    code: 'ERR_USAGE',
    message: /the --val set is the training set \(3 clips\)/,
  });
  t.throws(() => flags(['--train', '.', '--train-partition', 'a', '--train-partition', 'b', '--out', 'o']), { code: 'ERR_USAGE', message: /given twice/ });
  const warned = await openTrainingData(flags(['--train', '.', '--val', '.', '--val-partition', 'train', '--allow-overlap', '--out', 'o']), { labels: true });
  t.equal(warned.val!.items.length, 3, '--allow-overlap goes on');

  // a manifest naming a training clip through a symlink
  fs.symlinkSync(path.join(dir, 'video', 'train', 'sad', 'b.mp4'), path.join(dir, 'link.mp4'));
  fs.writeFileSync(path.join(dir, 'v.csv'), 'video,label\nlink.mp4,sad\nvideo/val/happy/d.mp4,happy\n');
  const train = await openSplit('.', 'train');
  const v = await openSplit('v.csv', 'val', { labels: train.labels! });
  t.match(checkDisjoint(train, v, 'val', true), /^WARNING: 1 of 2 --val clips are training clips \(e\.g\. v\.csv:2\)/);

  const r1 = await describeSource('v.csv', v, 'val');
  t.same(await describeSource('v.csv', await openSplit('v.csv', 'val', { labels: train.labels! }), 'val'), r1, 'the same data, the same record');
  t.match(r1, { kind: 'csv', partition: null, items: 2, mediaBytes: 'train/sad/b.mp4'.length + 'val/happy/d.mp4'.length });
  fs.writeFileSync(path.join(dir, 'v.csv'), 'video,label\nlink.mp4,happy\nvideo/val/happy/d.mp4,happy\n');
  const r2 = await describeSource('v.csv', await openSplit('v.csv', 'val', { labels: train.labels! }), 'val');
  t.not(r2.sha256, r1.sha256, 'a changed label changes the hash');
});
