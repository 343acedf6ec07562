/** Shared helpers of the model tests: fixture loading, tiny configs, error measures. */
import * as path from 'path';
import * as fs from 'fs';
import { torch, Tensor } from '../../lib/tensor';
import { load } from '../../lib/io';

/** test/fixtures (the compiled test runs from dist/test/models). */
export const FIXTURES = path.resolve(__dirname, '../../../test/fixtures');

export function fixturePath(name: string): string {
  return path.join(FIXTURES, name);
}

export function readJson<T = any>(name: string): T {
  return JSON.parse(fs.readFileSync(fixturePath(name), 'utf8')) as T;
}

/** Loads a fixture .pt (a dict of tensors) with lib/io's loader; the tensors live until disposed. */
export async function loadPt(name: string): Promise<Map<string, Tensor>> {
  const tree = await load<Map<unknown, unknown>>(fixturePath(name));
  const out = new Map<string, Tensor>();
  for (const [k, v] of tree) if (v instanceof Tensor) out.set(String(k), v);
  return out;
}

export function disposeMap(m: Map<string, Tensor>): void {
  for (const t of m.values()) t.dispose();
}

/** Tiny configs of the PUBLIC fixture set. */
export const TINY_ENCODER = {
  imgSize: 32,
  audioLength: 64,
  nFrame: 8,
  stride: 2,
  patchSize: 16,
  inChans: 3,
  embedDim: 64,
  modalitySpecificDepth: 11,
  numHeads: 4,
  mlpRatio: 4,
  trPos: true,
} as const;
export const TINY_DECODER = { decoderEmbedDim: 32, decoderDepth: 2, decoderNumHeads: 4, normPixLoss: false } as const;

/** max |a - b| / max |b| (relative to the reference tensor's largest entry). */
export function relErr(a: Tensor, b: Tensor): number {
  return torch.tidy(() => {
    const d = a.detach().to('float64').sub(b.to('float64')).abs().max().item();
    const s = b.to('float64').abs().max().item();
    return s === 0 ? d : d / s;
  });
}

/** max |a - b| */
export function absErr(a: Tensor, b: Tensor): number {
  return torch.tidy(() => a.detach().to('float64').sub(b.to('float64')).abs().max().item());
}

/** Elementwise equality (same shape and values). */
export function sameValues(a: Tensor, b: Tensor): boolean {
  return torch.tidy(
    () => a.shape.length === b.shape.length && a.shape.every((s, i) => s === b.shape[i]) && a.to('float64').eq(b.to('float64')).all().item() === 1,
  );
}
