/**
 * CSV parsing (RFC 4180): quoted fields with embedded delimiters, quotes ("") and newlines, CRLF or LF
 * line ends, a UTF-8 BOM. The delimiter is ',' unless the header line has more tabs or semicolons.
 */
import { DataError } from './errors';

/** One parsed row with the 1-based line number it starts on (for error messages). */
export interface CsvRow {
  line: number;
  fields: string[];
}

/** Picks the delimiter from the first line: the most frequent of ',', '\t', ';' (',' on ties). */
export function detectDelimiter(text: string): string {
  const first = text.slice(0, Math.max(0, text.search(/\r?\n/)) || text.length);
  const count = (c: string) => first.split(c).length - 1;
  let best = ',';
  for (const c of ['\t', ';']) if (count(c) > count(best)) best = c;
  return best;
}

/**
 * Parses CSV text into rows. Blank lines are skipped. Throws ERR_DATASET on an unterminated quote.
 * @param file used in error messages only
 */
export function parseCsv(text: string, opts: { delimiter?: string; file?: string } = {}): CsvRow[] {
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  const d = opts.delimiter ?? detectDelimiter(text);
  const rows: CsvRow[] = [];
  let fields: string[] = [];
  let field = '';
  let line = 1;
  let rowLine = 1;
  let i = 0;
  let quoted = false;
  let any = false; // the current row has content
  const endRow = () => {
    if (any || fields.length > 0 || field.length > 0) {
      fields.push(field);
      if (!(fields.length === 1 && fields[0]!.trim() === '')) rows.push({ line: rowLine, fields });
    }
    fields = [];
    field = '';
    any = false;
  };
  while (i < text.length) {
    const c = text[i]!;
    if (quoted) {
      if (c === '"') {
        if (text[i + 1] === '"') {
          field += '"';
          i += 2;
          continue;
        }
        quoted = false;
        i++;
        continue;
      }
      if (c === '\n') line++;
      field += c;
      i++;
      continue;
    }
    if (c === '"' && field.trim() === '') {
      quoted = true;
      any = true;
      field = '';
      i++;
    } else if (c === d) {
      fields.push(field);
      field = '';
      any = true;
      i++;
    } else if (c === '\r' || c === '\n') {
      endRow();
      if (c === '\r' && text[i + 1] === '\n') i++;
      i++;
      line++;
      rowLine = line;
    } else {
      field += c;
      i++;
    }
  }
  if (quoted) {
    throw new DataError(`unterminated quoted field starting on line ${rowLine}`, 'ERR_DATASET', opts.file === undefined ? {} : { file: opts.file });
  }
  endRow();
  return rows;
}
