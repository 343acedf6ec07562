#!/usr/bin/env node
/**
 * The social-mae command. One file per command under lib/cli/commands; each exports its spec as
 * `command` (lib/cli/args.ts: parser, validation, --help) and `run(flags, positionals)`.
 * `social-mae --help` lists the commands, `social-mae COMMAND --help` a command's flags.
 */
import { UsageError, type Command, type FlagSet } from './args';

/** A command module. */
interface CommandModule {
  command: Command<FlagSet>;
  run: (flags: never, positionals: string[]) => Promise<void>;
}

/** The commands in the order the top-level help lists them; loaded on use. */
const COMMANDS: Record<string, () => Promise<CommandModule>> = {
  demo: () => import('./commands/demo'),
  inspect: () => import('./commands/inspect'),
  pretrain: () => import('./commands/pretrain'),
  finetune: () => import('./commands/finetune'),
  predict: () => import('./commands/predict'),
  evaluate: () => import('./commands/evaluate'),
  embed: () => import('./commands/embed'),
  retrieve: () => import('./commands/retrieve'),
  convert: () => import('./commands/convert'),
};

async function usage(): Promise<string> {
  const mods = await Promise.all(Object.values(COMMANDS).map((load) => load()));
  const lines = mods.map((m) => `  ${m.command.spec.name.padEnd(10)} ${m.command.spec.summary}`);
  return `usage: social-mae <command> [options]\n\ncommands:\n${lines.join('\n')}\n\nsocial-mae <command> --help lists a command's options.\n`;
}

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h') {
    (name ? process.stdout : process.stderr).write(await usage());
    return name ? 0 : 1;
  }
  const load = Object.hasOwn(COMMANDS, name) ? COMMANDS[name] : undefined;
  if (!load) {
    process.stderr.write(`social-mae: unknown command '${name}'\n${await usage()}`);
    return 1;
  }
  try {
    const mod = await load();
    const p = mod.command.parse(rest);
    if (p.help) process.stdout.write(mod.command.help());
    else await mod.run(p.flags as never, p.positionals);
    return 0;
  } catch (e) {
    const err = e as Error & { code?: string };
    process.stderr.write(`social-mae ${name}: ${err.message}${err.code ? ` [${err.code}]` : ''}\n`);
    if (err instanceof UsageError) process.stderr.write(`see: social-mae ${name} --help\n`);
    return 1;
  }
}

if (require.main === module) {
  main(process.argv.slice(2)).then((code) => {
    process.exitCode = code;
  });
}

export { main };
