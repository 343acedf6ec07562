/**
 * The declarative command specs (lib/cli/args.ts) in process: typed values, validation at parse time,
 * unknown / repeated / value-less flags, and a --help for every command that lists each flag with its
 * default and an example.
 */
import t, { type Test } from 'tap';
import * as path from 'path';
import { spawnSync } from 'child_process';
import { UsageError, defineCommand, kebab, type Command, type FlagSet } from '../../lib/cli/args';
import { CHILD_TIMEOUT_MS } from '../helpers/wait';

const spec = defineCommand({
  name: 'x',
  summary: 'a test command',
  example: 'social-mae x --out o',
  flags: {
    out: { type: 'string', required: true, value: 'DIR', help: 'out' },
    epochs: { type: 'int', min: 1, default: 10, help: 'epochs' },
    lr: { type: 'float', min: 0, default: 0.1, help: 'lr' },
    amp: { type: 'choice', choices: ['off', 'bf16'], default: 'off', help: 'amp' },
    epoch: { type: 'int', min: 1, help: 'optional' },
    resume: { type: 'boolean', help: 'resume' },
    tag: { type: 'string', multiple: true, help: 'tags' },
  },
});

function usageError(t: Test, argv: string[], re: RegExp) {
  t.throws(() => spec.parse(argv), { name: 'UsageError', code: 'ERR_USAGE', message: re }, argv.join(' '));
}

t.test('values are typed, defaulted and validated at parse time', (t) => {
  const p = spec.parse(['--out', 'o', '--epochs=3', '--lr', '-0', '--amp', 'bf16', '--resume', '--tag', 'a', '--tag', 'b']);
  t.same(p, { help: false, flags: { out: 'o', epochs: 3, lr: -0, amp: 'bf16', resume: true, tag: ['a', 'b'] }, positionals: [] });
  const d = spec.parse(['--out', 'o']);
  t.same(d, { help: false, flags: { out: 'o', epochs: 10, lr: 0.1, amp: 'off', resume: false, tag: [] }, positionals: [] });
  t.notOk(!d.help && 'epoch' in d.flags, 'an optional flag without a default is absent');
  usageError(t, ['--out', 'o', '--epochs', '0'], /^--epochs must be >= 1, got 0$/);
  usageError(t, ['--out', 'o', '--epochs', '2.5'], /^--epochs expects an integer, got '2.5'$/);
  usageError(t, ['--out', 'o', '--lr', 'NaN'], /^--lr expects a number, got 'NaN'$/);
  usageError(t, ['--out', 'o', '--lr', '-1'], /^--lr must be >= 0, got -1$/);
  usageError(t, ['--out', 'o', '--amp', 'fp8'], /^--amp expects one of off, bf16, got 'fp8'$/);
  t.match(spec.parse(['--out', 'o', '--amp', 'BF16']), { flags: { amp: 'bf16' } }, 'a choice in any case is the declared choice');
  usageError(t, ['--epochs', '3'], /^--out is required$/);
  usageError(t, ['--out', ''], /^--out expects a non-empty value$/);
  t.end();
});

t.test('unknown, repeated and value-less flags are errors', (t) => {
  usageError(t, ['--out', 'o', '--epoc', '3'], /^unknown option --epoc \(did you mean --epoch\?\)$/);
  usageError(t, ['--out', 'o', '--bogus'], /^unknown option --bogus$/);
  usageError(t, ['--out', 'o', '-x'], /^unknown option -x$/);
  usageError(t, ['--out', 'o', '--epochs', '2', '--epochs', '3'], /^--epochs is given twice \('2' and '3'\)/);
  usageError(t, ['--out', 'o', '--resume', '--resume'], /^--resume is given twice$/);
  usageError(t, ['--out', 'o', '--epochs'], /^--epochs needs a value$/);
  usageError(t, ['--out', '--epochs', '3'], /^--out needs a value \(got the option --epochs/);
  usageError(t, ['--out', 'o', '--resume=yes'], /^--resume takes no value, got 'yes'$/);
  usageError(t, ['--out', 'o', 'stray'], /^unexpected argument 'stray'$/);
  t.same(spec.parse(['--out=--odd']), { help: false, flags: { out: '--odd', epochs: 10, lr: 0.1, amp: 'off', resume: false, tag: [] }, positionals: [] });
  t.end();
});

t.test('positionals: count checked, -- ends the options', (t) => {
  const two = defineCommand({ name: 'c', summary: 's', example: 'e', flags: {}, positionals: { name: 'IN OUT', min: 2, max: 2, help: 'files' } });
  t.same(two.parse(['a', '--', '--b']), { help: false, flags: {}, positionals: ['a', '--b'] });
  t.throws(() => two.parse(['a']), { code: 'ERR_USAGE', message: /^c needs IN OUT: files$/ });
  t.throws(() => two.parse(['a', 'b', 'c']), { code: 'ERR_USAGE', message: /^unexpected argument 'c'$/ });
  t.same(two.parse(['-h']), { help: true }, '--help wins over missing arguments');
  t.end();
});

t.test('a spec with a bad default or key is a programming error', (t) => {
  t.throws(
    () => defineCommand({ name: 'b', summary: 's', example: 'e', flags: { a: { type: 'choice', choices: ['x'], default: 'y', help: 'h' } } }),
    TypeError,
  );
  t.throws(() => defineCommand({ name: 'b', summary: 's', example: 'e', flags: { 'a-b': { type: 'boolean', help: 'h' } } }), TypeError);
  t.equal(kebab('batchSize'), 'batch-size');
  t.ok(new UsageError('m') instanceof Error);
  t.end();
});

const COMMANDS = ['demo', 'inspect', 'pretrain', 'finetune', 'predict', 'convert'];

t.test('every command has a --help listing every flag with its default, and an example', async (t) => {
  for (const name of COMMANDS) {
    const { command } = (await import(`../../lib/cli/commands/${name}`)) as { command: Command<FlagSet> };
    const help = command.help();
    t.match(help, new RegExp(`^usage: social-mae ${name} `), name);
    t.match(help, new RegExp(`\\nexamples?:\\n  social-mae ${name} `), `${name}: an example`);
    for (const [key, s] of Object.entries(command.spec.flags)) {
      const line = help.split('\n').findIndex((l) => l.startsWith(`  --${kebab(key)}`));
      t.ok(line >= 0, `${name} --${kebab(key)} is listed`);
      const text = help
        .split('\n')
        .slice(line, line + 2)
        .join(' ');
      if (s.type !== 'boolean' && 'default' in s && s.default !== undefined) t.match(text, `default: ${s.default}`, `${name} --${kebab(key)} default`);
    }
    t.same(command.parse(['--help']), { help: true });
  }
});

t.test('social-mae COMMAND --help exits 0; an unknown flag exits 1 in every command', (t) => {
  const main = path.resolve(__dirname, '../../lib/cli/main.js');
  const run = (args: string[]) => spawnSync(process.execPath, [main, ...args], { encoding: 'utf8', timeout: CHILD_TIMEOUT_MS, killSignal: 'SIGKILL' });
  const help = run(['predict', '--help']);
  t.equal(help.status, 0, help.stderr);
  t.match(help.stdout, /--on-bad-item raise\|skip/);
  const top = run(['--help']);
  t.equal(top.status, 0);
  for (const name of COMMANDS) t.match(top.stdout, new RegExp(`\\n  ${name} `), `top-level help lists ${name}`);
  for (const name of ['demo', 'inspect', 'convert']) {
    const r = run([name, '--nope']);
    t.equal(r.status, 1, `${name} --nope`);
    t.match(r.stderr, new RegExp(`social-mae ${name}: unknown option --nope \\[ERR_USAGE\\]`));
  }
  t.end();
});
