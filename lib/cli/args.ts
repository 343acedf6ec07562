/** A small argv parser for the CLI: positionals, `--flag`, `--key value` and `--key=value`. */
import { TorchError } from '../tensor';

export interface ParsedArgs {
  positionals: string[];
  flags: Map<string, string | true>;
}

/** `booleans`: flags that never take a value (`--json a.mp4` is a flag and a positional). */
export function parseArgs(argv: string[], booleans: readonly string[] = []): ParsedArgs {
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
    else if (!booleans.includes(a.slice(2)) && i + 1 < argv.length && !argv[i + 1].startsWith('--')) flags.set(a.slice(2), argv[++i]);
    else flags.set(a.slice(2), true);
  }
  return { positionals, flags };
}

/** A bad command line (unknown flag, missing or malformed value): a TorchError with code ERR_USAGE. */
export class UsageError extends TorchError {
  declare readonly code: 'ERR_USAGE';
  constructor(message: string) {
    super(message, 'ERR_USAGE');
    this.name = 'UsageError';
  }
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

export function floatFlag(args: ParsedArgs, name: string, dflt: number): number {
  const v = args.flags.get(name);
  if (v === undefined) return dflt;
  const n = Number(v);
  if (v === true || v.trim() === '' || !Number.isFinite(n)) throw new UsageError(`--${name} expects a number, got ${String(v)}`);
  return n;
}

export function choiceFlag<T extends string>(args: ParsedArgs, name: string, choices: readonly T[], dflt: T): T {
  const v = stringFlag(args, name, dflt);
  if (!(choices as readonly string[]).includes(v)) throw new UsageError(`--${name} expects one of ${choices.join(', ')}, got ${v}`);
  return v as T;
}

/** A required `--name value`. */
export function requiredFlag(args: ParsedArgs, name: string): string {
  const v = args.flags.get(name);
  if (v === undefined || v === true) throw new UsageError(`--${name} is required`);
  return v;
}

/** Rejects flags the command does not know (a typo must not silently train with defaults), and
 *  positionals when it takes none. */
export function checkFlags(args: ParsedArgs, known: readonly string[], opts: { positionals?: boolean } = {}): void {
  for (const k of args.flags.keys()) if (!known.includes(k)) throw new UsageError(`unknown option --${k}`);
  if (!opts.positionals && args.positionals.length > 0) throw new UsageError(`unexpected argument '${args.positionals[0]}'`);
}
