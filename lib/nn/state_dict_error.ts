/** The one error a strict loadStateDict throws, listing every problem at once (zod-style issues). */
import { TorchError } from '../tensor';

export interface StateDictIssue {
  code: 'missing_key' | 'unexpected_key' | 'shape_mismatch' | 'invalid_value';
  key: string;
  expected?: number[];
  found?: number[];
  message: string;
}

export class StateDictError extends TorchError {
  readonly issues: StateDictIssue[];
  constructor(moduleName: string, issues: StateDictIssue[]) {
    const count = (c: StateDictIssue['code']) => issues.filter((i) => i.code === c).length;
    const head =
      `Error(s) in loading state dict for ${moduleName}: ${count('missing_key')} missing, ` +
      `${count('unexpected_key')} unexpected, ${count('shape_mismatch')} shape-mismatched key(s)`;
    super(`${head}\n  ${issues.map((i) => i.message).join('\n  ')}`, 'ERR_STATE_DICT');
    this.name = 'StateDictError';
    this.issues = issues;
  }
}
