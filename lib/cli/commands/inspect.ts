/** `social-mae inspect CHECKPOINT`: the tensors of a checkpoint and which model they fit. */
import { Tensor } from '../../tensor';
import * as io from '../../io';
import { inferConfig } from '../../models';
import { defineCommand, type Flags } from '../args';
import { describeModel } from '../checkpoint-file';

export const command = defineCommand({
  name: 'inspect',
  summary: 'list the tensors of a .pth / .safetensors checkpoint and recognise the model',
  example: 'social-mae inspect runs/ft/models/best_audio_model.pth',
  flags: {},
  positionals: { name: 'CHECKPOINT', min: 1, max: 1, help: 'a .pth (torch.save) or .safetensors file' },
});

/** At most this many entry lines are printed; the rest are counted in a note. */
export const MAX_LINES = 10_000;
/** Entries nested deeper than this are counted in the totals but not named or printed. */
export const MAX_DEPTH = 64;

/** What inspect found: every distinct tensor once, the printable lines, and what was left out. */
interface Survey {
  /** each distinct tensor once, in walk order */
  tensors: Tensor[];
  /** name -> shape of the named (not too deep) tensors, for recognise() */
  shapes: Map<string, number[]>;
  lines: string[];
  /** lines beyond MAX_LINES */
  omitted: number;
  /** tensors nested deeper than MAX_DEPTH */
  deep: number;
}

/** The children of a container as [name, value]; leaves (tensors, bytes, primitives) have none. */
function childrenOf(value: object): [string, unknown][] {
  if (value instanceof Map) return [...value].map(([k, v]) => [String(k), v]);
  if (Array.isArray(value)) return value.map((v, i) => [String(i), v]);
  if (ArrayBuffer.isView(value)) return [];
  return Object.entries(value);
}

/**
 * Walks a loaded checkpoint tree depth first, without recursion, visiting each distinct object once: a
 * sub-object reached again (a shared tensor or container, or a cycle) is one "(shared, see NAME)" line and
 * is not walked again. The work is therefore linear in the number of objects the file holds, whatever
 * fan-out of shared references or nesting depth a crafted file has.
 */
function survey(tree: unknown): Survey {
  const s: Survey = { tensors: [], shapes: new Map(), lines: [], omitted: 0, deep: 0 };
  const line = (text: string) => {
    if (s.lines.length < MAX_LINES) s.lines.push(text);
    else s.omitted++;
  };
  /** object -> the name it was first seen under (null: too deep to name) */
  const first = new Map<object, string | null>();
  const stack: { value: unknown; name: string | null; depth: number }[] = [{ value: tree, name: '', depth: 0 }];
  while (stack.length > 0) {
    const { value, name, depth } = stack.pop()!;
    if (value === null || typeof value !== 'object') continue;
    if (first.has(value)) {
      const where = first.get(value);
      if (name !== null) line(`${name}\t(shared, see ${where === null ? 'a deeper entry' : where === '' ? 'the top level' : where})`);
      continue;
    }
    first.set(value, name);
    if (value instanceof Tensor) {
      s.tensors.push(value);
      if (name === null) {
        s.deep++;
      } else {
        s.shapes.set(name, value.shape);
        line(`${name}\t${value.dtype}\t${JSON.stringify(value.shape)}`);
      }
      continue;
    }
    const children = childrenOf(value);
    for (let i = children.length - 1; i >= 0; i--) {
      const [k, v] = children[i]!;
      const named = name !== null && depth + 1 <= MAX_DEPTH;
      stack.push({ value: v, name: named ? (name ? `${name}.${k}` : k) : null, depth: depth + 1 });
    }
  }
  return s;
}

/** Names the model and its full configuration from the tensor shapes (models.inferConfig). */
function recognise(all: Map<string, number[]>): string[] {
  // the root, or the state dict a training script nests under one of io.NESTED_KEYS
  const under = (k: string) => new Map([...all].filter(([n]) => n.startsWith(`${k}.`)).map(([n, s]) => [n.slice(k.length + 1), s]));
  const shapes =
    all.has('patch_embed_a.proj.weight') || all.has('module.patch_embed_a.proj.weight') ? all : (io.NESTED_KEYS.map(under).find((m) => m.size > 0) ?? all);
  try {
    const m = inferConfig(new Map([...shapes].map(([k, shape]) => [k, { shape }])));
    return [`looks like: ${describeModel(m)}`, ...(m.assumed.length ? [`assumed (not in the shapes): ${m.assumed.join('; ')}`] : [])];
  } catch (e) {
    return [`looks like: unknown (${(e as Error).message})`];
  }
}

export async function run(_f: Flags<typeof command.spec.flags>, [file]: string[]): Promise<void> {
  const tree = await io.load(file!);
  const s = survey(tree);
  try {
    const out = process.stdout;
    for (const l of s.lines) out.write(`${l}\n`);
    if (s.omitted > 0) out.write(`... ${s.omitted.toLocaleString('en')} more lines not shown (at most ${MAX_LINES.toLocaleString('en')} are printed)\n`);
    if (s.deep > 0) out.write(`${s.deep.toLocaleString('en')} tensors nested deeper than ${MAX_DEPTH} levels are counted but not listed\n`);
    const total = s.tensors.reduce((n, t) => n + t.numel(), 0);
    out.write(`${s.tensors.length} tensors, ${total.toLocaleString('en')} elements\n`);
    for (const l of recognise(s.shapes)) out.write(`${l}\n`);
  } finally {
    for (const t of s.tensors) t.dispose();
  }
}
