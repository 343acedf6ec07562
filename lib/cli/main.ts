#!/usr/bin/env node
/**
 * The social-mae command. One file per command under lib/cli/commands; each exports `run(args)`.
 *   social-mae demo [--full] [--steps N] [--out DIR]
 *   social-mae inspect CHECKPOINT
 */
import { parseArgs, UsageError } from './args';

const COMMANDS: Record<string, { summary: string; load: () => Promise<{ run: (a: ReturnType<typeof parseArgs>) => Promise<void> }> }> = {
  demo: { summary: 'decode the bundled clips, pretrain a few steps, save, reload into the finetuning model', load: () => import('./commands/demo') },
  inspect: { summary: 'list the tensors of a .pth / .safetensors checkpoint and recognise the model', load: () => import('./commands/inspect') },
};

function usage(): string {
  const lines = Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(10)} ${c.summary}`);
  return `usage: social-mae <command> [options]\n\ncommands:\n${lines.join('\n')}\n`;
}

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h') {
    process.stdout.write(usage());
    return name ? 0 : 1;
  }
  const cmd = COMMANDS[name];
  if (!cmd) {
    process.stderr.write(`social-mae: unknown command '${name}'\n${usage()}`);
    return 1;
  }
  try {
    await (await cmd.load()).run(parseArgs(rest));
    return 0;
  } catch (e) {
    const err = e as Error & { code?: string };
    process.stderr.write(`social-mae ${name}: ${err.message}${err.code ? ` [${err.code}]` : ''}\n`);
    if (err instanceof UsageError) process.stderr.write(usage());
    return 1;
  }
}

if (require.main === module) {
  main(process.argv.slice(2)).then((code) => {
    process.exitCode = code;
  });
}

export { main };
