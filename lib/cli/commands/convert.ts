/**
 * `social-mae convert IN OUT [--strip-prefix] [--add-prefix] [--key NAME]`: a checkpoint from .pth to
 * .safetensors or back (the output's extension decides, or --format), bit for bit, written atomically
 * (io.convertCheckpoint, lib/io/convert.ts). Safetensors holds one flat dict of tensors, so a nested
 * checkpoint gives up its state dict (--key, or the usual `state_dict` / `model` entries).
 */
import * as fs from 'fs';
import * as path from 'path';
import * as io from '../../io';
import { UsageError, defineCommand, type Flags } from '../args';
import { log } from '../training';

export const command = defineCommand({
  name: 'convert',
  summary: 'convert a checkpoint between .pth and .safetensors (bit for bit, written atomically)',
  example: ['social-mae convert social-mae-ft.pth social-mae-ft.safetensors', 'social-mae convert --strip-prefix run.pth plain.safetensors'],
  flags: {
    format: { type: 'choice', choices: ['safetensors', 'pth'], defaultHelp: "OUT's extension (.safetensors, else pth)", help: 'output format' },
    stripPrefix: { type: 'boolean', help: "remove DataParallel's 'module.' from the keys that have it" },
    addPrefix: { type: 'boolean', help: "add 'module.' to every key (what the reference's scripts save)" },
    key: { type: 'string', value: 'NAME', help: 'the entry of a nested checkpoint that holds the state dict' },
    force: { type: 'boolean', help: 'overwrite OUT if it exists' },
  },
  positionals: { name: 'IN OUT', min: 2, max: 2, help: 'the checkpoint to read and the file to write' },
});

export async function run(f: Flags<typeof command.spec.flags>, [src, dst]: string[]): Promise<void> {
  if (path.resolve(src!) === path.resolve(dst!)) throw new UsageError('IN and OUT are the same file');
  if (fs.existsSync(dst!) && !f.force) throw new UsageError(`${dst} exists (--force to overwrite)`);
  const r = await io.convertCheckpoint(src!, dst!, {
    stripPrefix: f.stripPrefix,
    addPrefix: f.addPrefix,
    ...(f.key !== undefined ? { key: f.key } : {}),
    ...(f.format !== undefined ? { format: f.format } : {}),
  });
  log(`converted ${src} (${r.from}) -> ${dst} (${r.to}): ${r.tensors} tensors, ${fs.statSync(dst!).size.toLocaleString('en')} bytes`);
}
