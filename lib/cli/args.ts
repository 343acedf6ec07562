/** A small argv parser for the CLI: positionals, `--flag`, `--key value` and `--key=value`. */
export interface ParsedArgs {
  positionals: string[];
  flags: Map<string, string | true>;
}

export function parseArgs(argv: string[]): ParsedArgs {
  const positionals: string[] = [];
  const flags = new Map<string, string | true>();
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (!a.startsWith('--')) {
      positionals.push(a);
      continue;
    }
    const eq = a.indexOf('=');
    if (eq > 0) flags.set(a.slice(2, eq), a.slice(eq + 1));
    else if (i + 1 < argv.length && !argv[i + 1].startsWith('--')) flags.set(a.slice(2), argv[++i]);
    else flags.set(a.slice(2), true);
  }
  return { positionals, flags };
}

export class UsageError extends Error {
  readonly code = 'ERR_USAGE';
}

export function intFlag(args: ParsedArgs, name: string, dflt: number): number {
  const v = args.flags.get(name);
  if (v === undefined) return dflt;
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n < 0) throw new UsageError(`--${name} expects a non-negative integer, got ${String(v)}`);
  return n;
}

export function stringFlag(args: ParsedArgs, name: string, dflt: string): string {
  const v = args.flags.get(name);
  if (v === undefined) return dflt;
  if (v === true) throw new UsageError(`--${name} expects a value`);
  return v;
}
