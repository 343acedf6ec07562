/**
 * What a command prints about its data, aggregated: the loader's per-item warnings (short clips, moved
 * windows, lying frame counts) become one line per kind with a count at the end of each epoch, and only
 * for items not reported before (a short clip warns once per run, not once per epoch); items skipped
 * under `--on-bad-item skip` are summed up at the end of each epoch with the first few named.
 */
import { DataLoader, type LoaderOptions } from '../data/loader';
import type * as data from '../data';

/** The kind of a warning: its text with numbers and quoted names blanked out. */
export function warningKind(message: string): string {
  return message.replace(/"[^"]*"|'[^']*'/g, '…').replace(/\d+(\.\d+)?/g, 'N');
}

/** Counts warnings per kind; `flush` returns one line per kind seen since the last flush. */
export class WarningTally {
  /** kind -> items (origins) with that kind, ever */
  private readonly seen = new Map<string, Set<string>>();
  /** kind -> { new items since the last flush, one example message } */
  private pending = new Map<string, { count: number; example: string }>();

  add(message: string, item?: data.DataItem): void {
    const text = item && message.startsWith(`${item.origin}: `) ? message.slice(item.origin.length + 2) : message;
    const kind = warningKind(text);
    const who = item?.origin ?? message;
    const seen = this.seen.get(kind) ?? new Set<string>();
    this.seen.set(kind, seen);
    if (seen.has(who)) return;
    seen.add(who);
    const p = this.pending.get(kind);
    if (p) p.count++;
    else this.pending.set(kind, { count: 1, example: message });
  }

  flush(): string[] {
    const lines = [...this.pending.values()].map((p) => (p.count === 1 ? `warning: ${p.example}` : `warning (${p.count} items): ${p.example}`));
    this.pending = new Map();
    return lines;
  }
}

/** The loader's own item-less "epoch E: N item(s) skipped so far" line. */
const SKIP_COUNT = /^epoch \d+: \d+ item\(s\) skipped so far/;

/** Options of ReportingLoader: where lines go and which split this is (for the lines). */
export interface ReportOptions {
  name: string;
  log: (line: string) => void;
}

/** A DataLoader that reports aggregated warnings and skipped items at the end of every epoch. */
export class ReportingLoader extends DataLoader {
  private readonly tally: WarningTally;
  private reportedSkips = 0;
  private readonly report: ReportOptions;

  constructor(source: data.DataSource, opts: Omit<LoaderOptions, 'onWarning'>, report: ReportOptions) {
    const tally = new WarningTally();
    // The loader's end-of-epoch count of skipped items (lib/data/loader.ts) is replaced by summary().
    const onWarning = (m: string, item?: data.DataItem) => (SKIP_COUNT.test(m) && !item ? undefined : tally.add(m, item));
    super(source, { ...opts, onWarning });
    this.tally = tally;
    this.report = report;
  }

  override async *epoch(epoch: number): AsyncGenerator<data.Batch> {
    yield* super.epoch(epoch);
    for (const line of this.summary()) this.report.log(line);
  }

  /** The lines of one finished pass over the data (none when nothing new happened). */
  summary(): string[] {
    const lines = this.tally.flush().map((l) => `${this.report.name}: ${l}`);
    const skipped = this.stats.skipped.slice(this.reportedSkips);
    this.reportedSkips = this.stats.skipped.length;
    if (skipped.length > 0) {
      const shown = skipped.slice(0, 3).map((s) => `${s.origin}: ${s.message} [${s.code}]`);
      const more = skipped.length > 3 ? `; and ${skipped.length - 3} more` : '';
      lines.push(`${this.report.name}: ${skipped.length} item(s) skipped in this pass (--on-bad-item skip): ${shown.join('; ')}${more}`);
    }
    return lines;
  }
}
