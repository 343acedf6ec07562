/** `social-mae inspect CHECKPOINT`: the tensors of a checkpoint and which model they fit. */
import { Tensor } from '../../tensor';
import * as io from '../../io';
import { ParsedArgs, UsageError } from '../args';

function tensorsOf(value: unknown, prefix: string, out: [string, Tensor][]): void {
  if (value instanceof Tensor) out.push([prefix, value]);
  else if (value instanceof Map) for (const [k, v] of value) tensorsOf(v, prefix ? `${prefix}.${String(k)}` : String(k), out);
  else if (Array.isArray(value)) value.forEach((v, i) => tensorsOf(v, `${prefix}.${i}`, out));
  else if (value && typeof value === 'object') for (const [k, v] of Object.entries(value)) tensorsOf(v, prefix ? `${prefix}.${k}` : k, out);
}

/** Names the model family from characteristic keys and shapes. */
function recognise(shapes: Map<string, number[]>): string {
  const key = (k: string) => shapes.get(k) ?? shapes.get(`module.${k}`);
  const pv = key('patch_embed_v.proj.weight');
  if (!pv) return 'unknown (no patch_embed_v)';
  const family = pv.length === 5 ? 'Social-MAE' : 'CAV-MAE';
  const head = key('mlp_head.1.weight');
  if (head) return `${family} finetuning model (labelDim ${head[0]})`;
  return key('decoder_embed.weight') ? `${family} pretraining model` : `${family} encoder`;
}

export async function run(args: ParsedArgs): Promise<void> {
  const file = args.positionals[0];
  if (!file) throw new UsageError('inspect needs a checkpoint path');
  const tree = await io.load(file);
  const entries: [string, Tensor][] = [];
  tensorsOf(tree, '', entries);
  let total = 0;
  for (const [name, t] of entries) {
    total += t.numel();
    process.stdout.write(`${name}\t${t.dtype}\t${JSON.stringify(t.shape)}\n`);
  }
  process.stdout.write(`${entries.length} tensors, ${total.toLocaleString('en')} elements\n`);
  process.stdout.write(`looks like: ${recognise(new Map(entries.map(([k, t]) => [k, t.shape])))}\n`);
  for (const [, t] of entries) t.dispose();
}
