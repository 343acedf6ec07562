#!/usr/bin/env node
/**
 * The social-mae command. One file per command under lib/cli/commands; each exports `run(args)`.
 *   social-mae demo [--full] [--steps N] [--out DIR]
 *   social-mae inspect CHECKPOINT
 *   social-mae pretrain --train DATA --out DIR [options]
 *   social-mae finetune --train DATA --val DATA --out DIR [--init PRETRAIN.pth] [options]
 *   social-mae predict --run DIR INPUT...
 */
import { parseArgs, UsageError } from './args';

/** A command module: `run`, and the flags that take no value. */
interface Command {
  run: (a: ReturnType<typeof parseArgs>) => Promise<void>;
  BOOLEAN_FLAGS?: readonly string[];
}

const COMMANDS: Record<string, { summary: string; load: () => Promise<Command> }> = {
  demo: { summary: 'decode the bundled clips, pretrain a few steps, save, reload into the finetuning model', load: () => import('./commands/demo') },
  inspect: { summary: 'list the tensors of a .pth / .safetensors checkpoint and recognise the model', load: () => import('./commands/inspect') },
  pretrain: { summary: 'self-supervised pretraining on a dataset; checkpoints per epoch, --resume', load: () => import('./commands/pretrain') },
  finetune: { summary: 'supervised finetuning from a pretraining checkpoint; accuracy/mAP per epoch', load: () => import('./commands/finetune') },
  predict: { summary: 'class probabilities for media files (or a labelled dataset) from a finetune run', load: () => import('./commands/predict') },
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
    const mod = await cmd.load();
    await mod.run(parseArgs(rest, mod.BOOLEAN_FLAGS));
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
