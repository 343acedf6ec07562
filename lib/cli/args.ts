/**
 * Declarative command-line specs: one `defineCommand` per command gives its parser, its validation and its
 * `--help`, so every flag is read once, typed, and checked before any data is opened or model built.
 *
 * Tokenising is Node's `util.parseArgs` (non-strict, with tokens); this file adds what it lacks: typed and
 * range-checked values, required flags, a flag given twice is an error, a value-taking flag followed by
 * another option (`--out --epochs 3`) is an error, generated help.
 *
 *   export const command = defineCommand({
 *     name: 'finetune',
 *     summary: 'supervised finetuning from a pretraining checkpoint',
 *     example: 'social-mae finetune --train train.csv --val val.csv --out runs/ft',
 *     flags: {
 *       train: { type: 'string', required: true, value: 'DATA', help: 'training data' },
 *       epochs: { type: 'int', min: 1, default: 10, help: 'training epochs' },
 *       lr: { type: 'float', min: 0, default: 1e-5, help: 'learning rate' },
 *       amp: { type: 'choice', choices: ['off', 'bf16', 'fp16'], default: 'off', help: 'mixed precision' },
 *       resume: { type: 'boolean', help: 'continue from the last complete epoch' },
 *     },
 *     positionals: { name: 'INPUT...', min: 0, help: 'media files' },   // omitted: none allowed
 *   });
 *   const p = command.parse(argv);   // throws UsageError (code ERR_USAGE) on bad input
 *   if (!p.help) p.flags.epochs;     // number; flag keys are camelCase, the flag is kebab-case: batchSize -> --batch-size
 *
 * Flag kinds (`FlagSpec`): 'int' / 'float' (number; `min`, `max`), 'string' (`multiple: true` -> string[],
 * repeatable), 'choice' (one of `choices`, any case), 'boolean' (false unless given; never takes a value). A flag
 * with `default` or `required: true` is always set in the result; others are `undefined` when absent.
 * `value` names the value in the help (N, DIR, ...), `defaultHelp` describes a computed default. Shared
 * flag groups are plain objects spread into `flags` (declare them `as const satisfies FlagSet`).
 * `-h` / `--help` anywhere before `--` gives `{ help: true }`; `command.help()` is the text.
 */
import { parseArgs as tokenize } from 'util';
import { TorchError } from '../tensor';

/** A bad command line (unknown flag, missing or malformed value): a TorchError with code ERR_USAGE. */
export class UsageError extends TorchError {
  declare readonly code: 'ERR_USAGE';
  constructor(message: string) {
    super(message, 'ERR_USAGE');
    this.name = 'UsageError';
  }
}

interface Common {
  help: string;
  /** the value's name in the help (default: N for numbers, VALUE for strings) */
  value?: string;
  /** the help's "default:" text when the default is computed (the flag is then undefined when absent) */
  defaultHelp?: string;
  required?: boolean;
}
export interface NumberFlag extends Common {
  type: 'int' | 'float';
  default?: number;
  min?: number;
  max?: number;
}
export interface StringFlag extends Common {
  type: 'string';
  default?: string;
  /** repeatable; the value is string[] (empty when absent) */
  multiple?: boolean;
}
export interface ChoiceFlag extends Common {
  type: 'choice';
  choices: readonly string[];
  default?: string;
}
export interface BooleanFlag {
  type: 'boolean';
  help: string;
}
export type FlagSpec = NumberFlag | StringFlag | ChoiceFlag | BooleanFlag;
export type FlagSet = Record<string, FlagSpec>;

type Value<S> = S extends { type: 'int' | 'float' }
  ? number
  : S extends { type: 'choice'; choices: readonly (infer C)[] }
    ? C
    : S extends { multiple: true }
      ? string[]
      : string;
/** The parsed value of one flag: booleans and flags with a default or `required` are always set. */
export type FlagValue<S> = S extends { type: 'boolean' }
  ? boolean
  : S extends { multiple: true }
    ? string[]
    : S extends { default: unknown } | { required: true }
      ? Value<S>
      : Value<S> | undefined;
/** The typed result of a FlagSet, keyed by the camelCase names. */
export type Flags<F extends FlagSet> = { -readonly [K in keyof F]: FlagValue<F[K]> };

export interface CommandSpec<F extends FlagSet> {
  name: string;
  summary: string;
  /** usage line after `social-mae NAME` (default: generated from required flags and positionals) */
  usage?: string;
  /** more text under the summary in the help */
  description?: string;
  /** one or more complete command lines */
  example: string | readonly string[];
  flags: F;
  /** omitted: the command takes no positional arguments */
  positionals?: { name: string; help: string; min: number; max?: number };
}

export type Parsed<F extends FlagSet> = { help: true } | { help: false; flags: Flags<F>; positionals: string[] };

export interface Command<F extends FlagSet> {
  readonly spec: CommandSpec<F>;
  /** Parses and validates argv (without the command name); throws UsageError. */
  parse(argv: readonly string[]): Parsed<F>;
  /** The `--help` text. */
  help(): string;
}

/** batchSize -> batch-size */
export const kebab = (key: string) => key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);

/** The value of one occurrence of a value-taking flag, converted and range-checked. */
function convert(flag: string, s: FlagSpec, raw: string): string | number {
  if (s.type === 'int' || s.type === 'float') {
    const n = raw.trim() === '' ? NaN : Number(raw);
    const ok = s.type === 'int' ? Number.isSafeInteger(n) : Number.isFinite(n);
    if (!ok) throw new UsageError(`--${flag} expects ${s.type === 'int' ? 'an integer' : 'a number'}, got '${raw}'`);
    if (s.min !== undefined && n < s.min) throw new UsageError(`--${flag} must be >= ${s.min}, got ${raw}`);
    if (s.max !== undefined && n > s.max) throw new UsageError(`--${flag} must be <= ${s.max}, got ${raw}`);
    return n;
  }
  if (s.type === 'choice') {
    // case does not matter (`--loss mse` is `--loss MSE`); the result is the choice as declared
    const match = s.choices.find((c) => c === raw) ?? s.choices.find((c) => c.toLowerCase() === raw.toLowerCase());
    if (match === undefined) throw new UsageError(`--${flag} expects one of ${s.choices.join(', ')}, got '${raw}'`);
    return match;
  }
  if (raw === '') throw new UsageError(`--${flag} expects a non-empty value`);
  return raw;
}

/** Levenshtein distance (flag names are short). */
function distance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) row[j] = Math.min(prev[j]! + 1, row[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    prev = row;
  }
  return prev[b.length]!;
}

/** " (did you mean --x?)" for the closest known flag within one edit per 3 letters (at most 2), else "". */
function suggest(name: string, known: string[]): string {
  const best = known.map((k) => ({ k, d: distance(name, k) })).sort((x, y) => x.d - y.d)[0];
  return best && best.d <= Math.min(2, Math.max(1, Math.floor(name.length / 3))) ? ` (did you mean --${best.k}?)` : '';
}

/** A value that is really the next option (`--out --epochs`); negative numbers are values. */
const looksLikeOption = (v: string) => v.startsWith('-') && v.length > 1 && !/^-\.?\d/.test(v);

function parse<F extends FlagSet>(spec: CommandSpec<F>, argv: readonly string[]): Parsed<F> {
  const byFlag = new Map(Object.entries(spec.flags).map(([k, s]) => [kebab(k), { key: k, s }]));
  const options: Record<string, { type: 'string' | 'boolean'; short?: string }> = { help: { type: 'boolean', short: 'h' } };
  for (const [flag, { s }] of byFlag) options[flag] = { type: s.type === 'boolean' ? 'boolean' : 'string' };
  const { tokens } = tokenize({ args: [...argv], options, strict: false, allowPositionals: true, tokens: true });
  const values: Record<string, unknown> = {};
  const seen = new Set<string>();
  const positionals: string[] = [];
  let help = false;
  for (const tk of tokens) {
    if (tk.kind === 'positional') positionals.push(tk.value);
    if (tk.kind !== 'option') continue;
    if (tk.name === 'help') {
      help = true;
      continue;
    }
    const f = byFlag.get(tk.name);
    if (!f) throw new UsageError(`unknown option ${tk.rawName}${suggest(tk.name, [...byFlag.keys()])}`);
    const { key, s } = f;
    if (s.type === 'boolean') {
      if (tk.value !== undefined) throw new UsageError(`--${tk.name} takes no value, got '${tk.value}'`);
      if (seen.has(key)) throw new UsageError(`--${tk.name} is given twice`);
      values[key] = true;
    } else {
      if (tk.value === undefined || (!tk.inlineValue && looksLikeOption(tk.value)))
        throw new UsageError(
          `--${tk.name} needs a value${tk.value !== undefined ? ` (got the option ${tk.value}; write --${tk.name}=${tk.value} if that is the value)` : ''}`,
        );
      const v = convert(tk.name, s, tk.value);
      if (s.type === 'string' && s.multiple) values[key] = [...((values[key] as string[] | undefined) ?? []), v];
      else if (seen.has(key)) throw new UsageError(`--${tk.name} is given twice ('${String(values[key])}' and '${tk.value}'); give it once`);
      else values[key] = v;
    }
    seen.add(key);
  }
  if (help) return { help: true };
  for (const [flag, { key, s }] of byFlag) {
    if (key in values) continue;
    if (s.type === 'boolean') values[key] = false;
    else if (s.type === 'string' && s.multiple) values[key] = [];
    else if (s.default !== undefined) values[key] = s.default;
    else if (s.required) throw new UsageError(`--${flag} is required`);
  }
  const p = spec.positionals;
  if (!p && positionals.length > 0) throw new UsageError(`unexpected argument '${positionals[0]}'`);
  if (p && positionals.length < p.min) throw new UsageError(`${spec.name} needs ${p.name}: ${p.help}`);
  if (p?.max !== undefined && positionals.length > p.max) throw new UsageError(`unexpected argument '${positionals[p.max]}'`);
  return { help: false, flags: values as Flags<F>, positionals };
}

function valueName(s: FlagSpec): string {
  if (s.type === 'boolean') return '';
  if (s.value) return ` ${s.value}`;
  if (s.type === 'choice') return ` ${s.choices.join('|')}`;
  return s.type === 'string' ? ' VALUE' : ' N';
}

function helpText<F extends FlagSet>(spec: CommandSpec<F>): string {
  const entries = Object.entries(spec.flags).map(([k, s]) => ({ flag: `--${kebab(k)}${valueName(s)}`, s }));
  const width = Math.min(28, Math.max(12, ...entries.map((e) => e.flag.length))) + 2;
  const rows = entries.map(({ flag, s }) => {
    const notes: string[] = [];
    if (s.type !== 'boolean') {
      if (s.required) notes.push('required');
      if (s.defaultHelp) notes.push(`default: ${s.defaultHelp}`);
      else if (s.default !== undefined) notes.push(`default: ${s.default}`);
      if (s.type === 'int' || s.type === 'float') {
        if (s.min !== undefined) notes.push(`>= ${s.min}`);
        if (s.max !== undefined) notes.push(`<= ${s.max}`);
      }
      if (s.type === 'string' && s.multiple) notes.push('repeatable');
    }
    const text = `${s.help}${notes.length ? ` (${notes.join(', ')})` : ''}`;
    return flag.length >= width ? `  ${flag}\n  ${' '.repeat(width)}${text}` : `  ${flag.padEnd(width)}${text}`;
  });
  rows.push(`  ${'-h, --help'.padEnd(width)}show this help`);
  const required = entries.filter((e) => e.s.type !== 'boolean' && e.s.required).map((e) => e.flag);
  const usage = spec.usage ?? [...required, '[options]', ...(spec.positionals ? [spec.positionals.name] : [])].join(' ');
  const examples = typeof spec.example === 'string' ? [spec.example] : spec.example;
  return [
    `usage: social-mae ${spec.name} ${usage}`,
    '',
    spec.summary,
    ...(spec.description ? ['', spec.description] : []),
    ...(spec.positionals ? ['', 'arguments:', `  ${spec.positionals.name.padEnd(width)}${spec.positionals.help}`] : []),
    '',
    'options:',
    ...rows,
    '',
    `example${examples.length > 1 ? 's' : ''}:`,
    ...examples.map((e) => `  ${e}`),
    '',
  ].join('\n');
}

/** A command's parser and help from its declarative spec (see the file header). */
export function defineCommand<const F extends FlagSet>(spec: CommandSpec<F>): Command<F> {
  for (const [k, s] of Object.entries(spec.flags)) {
    if (!/^[a-z][a-zA-Z0-9]*$/.test(k) || k === 'help') throw new TypeError(`flag key '${k}' must be camelCase and not 'help'`);
    if (s.type === 'choice' && s.default !== undefined && !s.choices.includes(s.default)) throw new TypeError(`--${kebab(k)}: default is not a choice`);
  }
  return { spec, parse: (argv) => parse(spec, argv), help: () => helpText(spec) };
}
