/**
 * What config.json records besides the training options, so the file alone is enough to rerun a run: the
 * data sources (lib/cli/splits.ts describeSource), the initial weights (path, size, SHA-256), the loader
 * and loop settings the loops do not record themselves, and the versions of this package, LibTorch and
 * Node. A resumed run must record the same (lib/train/fit.ts compares config.json), so data or options
 * that changed since the run started are refused on --resume rather than mixed into one run; only the
 * epochs and the versions may change (fit.ts RESUMABLE_KEYS), and the record is rewritten.
 */
import { createHash } from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import { torch } from '../tensor';

/** The package version from package.json (dist/lib/cli -> the package root). */
function packageVersion(): string {
  const file = path.resolve(__dirname, '..', '..', '..', 'package.json');
  return (JSON.parse(fs.readFileSync(file, 'utf8')) as { version: string }).version;
}

export function versions(): { socialMae: string; libtorch: string; node: string } {
  return { socialMae: packageVersion(), libtorch: torch.version(), node: process.version };
}

/** A file as config.json records it: path, bytes, SHA-256 (streamed). */
export async function fileRecord(file: string): Promise<{ path: string; bytes: number; sha256: string }> {
  const h = createHash('sha256');
  let bytes = 0;
  for await (const chunk of fs.createReadStream(file)) {
    h.update(chunk as Buffer);
    bytes += (chunk as Buffer).length;
  }
  return { path: path.resolve(file), bytes, sha256: h.digest('hex') };
}
