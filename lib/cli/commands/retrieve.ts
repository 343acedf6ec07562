/**
 * `social-mae retrieve --embeddings DIR`: cross-modal retrieval on the paired clips `social-mae embed`
 * wrote (clip i's audio belongs with clip i's video), with CAV-MAE's protocol (lib/train/retrieval.ts):
 * audio queries ranking videos and video queries ranking audio by the cosine of the mean-pooled, normalised
 * embeddings; recall@1/5/10 and the median rank. `--match label` counts any clip of the query's class
 * as a match instead (a labelled set). --top K also lists each query's K best matches.
 */
import * as path from 'path';
import { readEmbeddings, crossModalRetrieval, labelRetrievalMetrics, topK } from '../../train';
import { writeFileAtomic } from '../../io/atomic';
import { UsageError, defineCommand, type Flags } from '../args';
import { log } from '../training';

export const command = defineCommand({
  name: 'retrieve',
  summary: 'audio-to-video and video-to-audio retrieval (recall@1/5/10) on embeddings from `social-mae embed`',
  example: ['social-mae retrieve --embeddings emb/', 'social-mae retrieve --embeddings emb/ --top 3 --json'],
  flags: {
    embeddings: { type: 'string', required: true, value: 'DIR', help: 'folder written by social-mae embed (with audio and video embeddings)' },
    match: {
      type: 'choice',
      choices: ['pair', 'label'],
      default: 'pair',
      help: "pair: clip i's audio matches clip i's video only (CAV-MAE); label: any clip of the same class matches",
    },
    top: { type: 'int', min: 0, default: 0, help: "list each query's K best matches" },
    out: { type: 'string', value: 'FILE', defaultHelp: 'DIR/retrieval.json', help: 'where the results go (JSON)' },
    json: { type: 'boolean', help: 'print the results as JSON' },
  },
});

export async function run(f: Flags<typeof command.spec.flags>): Promise<void> {
  const set = await readEmbeddings(f.embeddings);
  if (!set.audio || !set.video) throw new UsageError(`${f.embeddings}: retrieval needs audio and video embeddings (embed --kinds audio,video)`);
  const N = set.ids.length;
  const r = crossModalRetrieval(set.audio, set.video, N, set.dim);
  const simVA = r.simAV.map((_, j) => Float64Array.from(r.simAV, (row) => row[j]!));
  if (f.match === 'label') {
    const labels = set.labels;
    if (!labels || labels.some((l) => Array.isArray(l)))
      throw new UsageError(`${f.embeddings}: --match label needs class labels in index.jsonl (embed a labelled classification set)`);
    const classes = labels as (string | null)[];
    r.audioToVideo = labelRetrievalMetrics(r.simAV, classes);
    r.videoToAudio = labelRetrievalMetrics(simVA, classes);
  }
  const ranked = (sim: Float64Array[]) => topK(sim, Math.min(f.top, N)).map((row, i) => ({ query: set.ids[i]!, matches: row.map((j) => set.ids[j]!) }));
  const result = {
    items: N,
    match: f.match,
    audioToVideo: r.audioToVideo,
    videoToAudio: r.videoToAudio,
    ...(f.top > 0 ? { topAudioToVideo: ranked(r.simAV), topVideoToAudio: ranked(simVA) } : {}),
  };
  const out = f.out ?? path.join(f.embeddings, 'retrieval.json');
  await writeFileAtomic(out, [Buffer.from(JSON.stringify(result, null, 2) + '\n')]);
  if (f.json) {
    process.stdout.write(JSON.stringify(result, null, 2) + '\n');
    return;
  }
  const line = (m: typeof r.audioToVideo) => `R@1 ${m.R1.toFixed(4)}, R@5 ${m.R5.toFixed(4)}, R@10 ${m.R10.toFixed(4)}, median rank ${m.MR}`;
  log(`retrieve: ${N} ${f.match === 'pair' ? 'paired clips' : 'labelled clips, any clip of the same class matches'}`);
  log(`audio -> video: ${line(r.audioToVideo)}`);
  log(`video -> audio: ${line(r.videoToAudio)}`);
  for (const [name, rows] of [
    ['audio -> video', result.topAudioToVideo],
    ['video -> audio', result.topVideoToAudio],
  ] as const)
    for (const row of rows ?? []) log(`${name} ${row.query}: ${row.matches.join(', ')}`);
  log(`results: ${out}`);
}
