/**
 * metrics.jsonl of a run directory: one JSON record per line, appended while training runs:
 *   {"type":"step","epoch":E,"step":S,"globalStep":G,"samples":N,"itemsPerSecond":R,"lr":[...],"train":{"loss":...}}
 *     every `logEvery` steps (the running means of the epoch so far);
 *   {"type":"epoch", ...the epoch's progress.json record}   after every epoch;
 *   {"type":"test", "metrics":{...}}                           after a final test-set evaluation.
 * A line is appended with one write; a resumed run first drops the records of epochs it redoes (the file
 * is rewritten atomically), so the file always matches progress.json. NaN is written as null.
 */
import * as fs from 'fs';
import * as path from 'path';
import { writeFileAtomic } from '../io/atomic';

export const METRICS_FILE = 'metrics.jsonl';

export class MetricsLog {
  readonly file: string;
  constructor(dir: string) {
    this.file = path.join(dir, METRICS_FILE);
  }

  async append(record: Record<string, unknown>): Promise<void> {
    await fs.promises.appendFile(this.file, JSON.stringify(record) + '\n');
  }

  /** All records (a torn last line of a killed write is left out). */
  async read(): Promise<Record<string, unknown>[]> {
    let text: string;
    try {
      text = await fs.promises.readFile(this.file, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw e;
    }
    return text.split('\n').flatMap((ln) => {
      try {
        return ln.trim() ? [JSON.parse(ln) as Record<string, unknown>] : [];
      } catch {
        return [];
      }
    });
  }

  /** Keeps the records of epochs up to `lastEpoch` (a resume from it redoes the later ones). */
  async truncate(lastEpoch: number): Promise<void> {
    const all = await this.read();
    const kept = all.filter((r) => typeof r.epoch === 'number' && r.epoch <= lastEpoch);
    if (kept.length === all.length && fs.existsSync(this.file)) {
      const text = await fs.promises.readFile(this.file, 'utf8');
      if (text === '' || text.endsWith('\n')) return;
    }
    if (!fs.existsSync(this.file) && kept.length === 0) return;
    await writeFileAtomic(this.file, [Buffer.from(kept.map((r) => JSON.stringify(r) + '\n').join(''))]);
  }
}
