/**
 * Media paths can never become ffmpeg/ffprobe options or protocols (lib/data/ffmpeg-env.ts mediaInputArg):
 * files named like options (`-report`, `-i`) or like protocol URLs (`concat:a|b`) are read as the files
 * they are, relative to the working directory, and ffmpeg writes no report log.
 */
import t from 'tap';
import * as fs from 'fs';
import * as path from 'path';
import { probe, countDecodableFrames, decodeAudio, decodeVideoFrames } from '../../lib/data/ffmpeg';
import { loadVideoFrames } from '../../lib/data/frames';
import { CLIP, LYING, tmpDir, NO_FFMPEG } from './helpers';

/** Runs `fn` with `dir` as the working directory, so relative names reach the decoders as given. */
async function inDir<T>(dir: string, fn: () => Promise<T>): Promise<T> {
  const saved = process.cwd();
  process.chdir(dir);
  try {
    return await fn();
  } finally {
    process.chdir(saved);
  }
}

/** ffmpeg/ffprobe `-report` logs (`ffmpeg-YYYYMMDD-HHMMSS.log`) in `dir`. */
function reportLogs(dir: string): string[] {
  return fs.readdirSync(dir).filter((n) => /^ff(mpeg|probe)-.*\.log$/.test(n));
}

t.test('files named like options are decoded as files, and no report log appears', { skip: NO_FFMPEG }, async (t) => {
  const { dir, cleanup } = tmpDir();
  t.teardown(cleanup);
  for (const name of ['-report', '-report.mp4', '-i']) {
    fs.copyFileSync(CLIP, path.join(dir, name));
    // A subtest each, so a failing name still lets the report-log check below run.
    await t.test(name, (t) =>
      inDir(dir, async () => {
        const info = await probe(name);
        t.same([info.video!.width, info.video!.height, info.audio!.sampleRate], [256, 144, 44100], 'probe');
        t.equal(await countDecodableFrames(name, { info }), 125, 'frame count');
        t.equal((await decodeAudio(name, { sampleRate: 16000, channels: 1 })).channels, 1, 'audio');
        t.equal((await decodeVideoFrames(name, { indices: [0, 53], info })).decoded, 2, 'frames');
        const v = await loadVideoFrames(name);
        t.equal(v.shape[0], 3, 'loadVideoFrames');
        v.dispose();
      }),
    );
  }
  t.same(reportLogs(dir), [], 'ffmpeg wrote no -report log');
});

t.test('a broken file named like an option fails with a coded error naming it', { skip: NO_FFMPEG }, async (t) => {
  const { dir, cleanup } = tmpDir();
  t.teardown(cleanup);
  fs.writeFileSync(path.join(dir, '-i'), Buffer.from(Array.from({ length: 65536 }, (_, i) => (i * 2654435761) >>> 24)));
  await inDir(dir, async () => {
    for (const run of [() => probe('-i'), () => decodeAudio('-i', { sampleRate: 16000 })]) {
      const err = await run().then(
        () => null,
        (e: unknown) => e,
      );
      t.match(err, { code: 'ERR_MEDIA', file: '-i', message: /^-i: / }, 'ERR_MEDIA naming the file');
      t.notMatch(String((err as Error | null)?.message), /file:/, 'the message speaks of the file, not of its command-line form');
    }
    await t.rejects(probe('-report'), { code: 'ERR_FILE_NOT_FOUND', file: '-report' });
  });
  t.same(reportLogs(dir), [], 'ffmpeg wrote no -report log');
});

t.test('a file named like a protocol URL is that file, not the protocol', { skip: NO_FFMPEG }, async (t) => {
  const { dir, cleanup } = tmpDir();
  t.teardown(cleanup);
  // Read through the concat protocol, `concat:a|b` would be a and b: the 1280x720 clip.
  fs.copyFileSync(LYING, path.join(dir, 'a'));
  fs.copyFileSync(LYING, path.join(dir, 'b'));
  fs.copyFileSync(CLIP, path.join(dir, 'concat:a|b'));
  await inDir(dir, async () => {
    const info = await probe('concat:a|b');
    t.same([info.video!.width, info.video!.height], [256, 144], 'the file itself was read');
    const f = await decodeVideoFrames('concat:a|b', { indices: [0] });
    t.same([f.width, f.height, f.decoded], [256, 144, 1]);
    await t.rejects(probe('http:x'), { code: 'ERR_FILE_NOT_FOUND', file: 'http:x' });
  });
});
