/**
 * nn.utils: gradient clipping (torch.nn.utils.clip_grad_norm_ / clip_grad_value_), flattening
 * parameters to one vector and back, and parameter counting.
 */
import { native as N } from '../native/binding';
import { Tensor, TorchError, torch } from '../tensor';
import { Module } from './module';

type ParamsArg = Tensor | Iterable<Tensor> | Module;

function paramList(fn: string, params: ParamsArg): Tensor[] {
  if (params instanceof Tensor) return [params];
  if (params instanceof Module) return params.parameters();
  if (params === null || typeof (params as Iterable<Tensor>)?.[Symbol.iterator] !== 'function') {
    throw new TorchError(`${fn}: argument 'parameters' expected a Tensor, an iterable of Tensors or a Module`, 'ERR_INVALID_ARG');
  }
  const list = [...(params as Iterable<Tensor>)];
  list.forEach((p, i) => {
    if (!(p instanceof Tensor)) throw new TorchError(`${fn}: parameters[${i}] is not a Tensor`, 'ERR_INVALID_ARG');
  });
  return list;
}

/** Fresh handles on the gradients that exist (caller disposes them). */
function gradIds(params: Tensor[]): number[] {
  const ids: number[] = [];
  for (const p of params) {
    const g = N.grad(p.id);
    if (g !== null) ids.push(g);
  }
  return ids;
}

function parseNormType(fn: string, normType: number | 'inf'): number {
  const p = normType === 'inf' ? Infinity : normType;
  if (typeof p !== 'number' || Number.isNaN(p)) throw new TorchError(`${fn}: invalid normType ${String(normType)}`, 'ERR_INVALID_ARG');
  return p;
}

/**
 * Scales all gradients together so that their total `normType` norm is at most `maxNorm`, exactly as
 * torch.nn.utils.clip_grad_norm_: total = ||(||g_1||, ..., ||g_n||)||, coef = min(maxNorm / (total + 1e-6), 1),
 * g *= coef. Gradients that are undefined are ignored. Returns the total norm (before clipping) as a
 * 0-d tensor on the gradients' device — no host sync unless `errorIfNonfinite` is set or the caller
 * reads it. Dispose the result.
 */
export function clipGradNorm_(parameters: ParamsArg, maxNorm: number, normType: number | 'inf' = 2, opts: { errorIfNonfinite?: boolean } = {}): Tensor {
  const p = parseNormType('clipGradNorm_', normType);
  if (typeof maxNorm !== 'number' || Number.isNaN(maxNorm)) {
    throw new TorchError(`clipGradNorm_: argument 'maxNorm' expected a number, got ${String(maxNorm)}`, 'ERR_INVALID_ARG');
  }
  const grads = gradIds(paramList('clipGradNorm_', parameters));
  if (grads.length === 0) return torch.scalarTensor(0, { dtype: 'float32' });
  const temps: number[] = [];
  try {
    const total = N.totalNorm(grads, p);
    if (opts.errorIfNonfinite) {
      const v = N.item(total);
      if (!Number.isFinite(v)) {
        N.dispose(total);
        throw new TorchError(
          `The total norm of order ${p} for gradients from \`parameters\` is non-finite, so it cannot be ` +
            'clipped. To disable this error and scale the gradients by the non-finite norm anyway, set errorIfNonfinite: false',
          'ERR_NONFINITE',
        );
      }
    }
    // PyTorch: max_norm / (total + 1e-6) is (total + 1e-6).reciprocal() * max_norm, then clamp(max=1).
    const shifted = N.addS(total, 1e-6, 1);
    temps.push(shifted);
    const inv = N.reciprocal(shifted);
    temps.push(inv);
    const coef = N.mulS(inv, maxNorm);
    temps.push(coef);
    const clamped = N.clamp(coef, null, 1.0);
    temps.push(clamped);
    N.scaleAll_(grads, clamped);
    return new Tensor(total);
  } finally {
    for (const t of temps) N.dispose(t);
    for (const g of grads) N.dispose(g);
  }
}

/** Clamps every gradient elementwise to [-clipValue, clipValue] in place (clip_grad_value_). */
export function clipGradValue_(parameters: ParamsArg, clipValue: number): void {
  const grads = gradIds(paramList('clipGradValue_', parameters));
  try {
    for (const g of grads) N.clamp_(g, -clipValue, clipValue);
  } finally {
    for (const g of grads) N.dispose(g);
  }
}

/** The total norm of the gradients (no clipping): the first half of clipGradNorm_. Dispose it. */
export function gradNorm(parameters: ParamsArg, normType: number | 'inf' = 2): Tensor {
  const grads = gradIds(paramList('gradNorm', parameters));
  try {
    return new Tensor(N.totalNorm(grads, parseNormType('gradNorm', normType)));
  } finally {
    for (const g of grads) N.dispose(g);
  }
}

/** All parameters flattened and concatenated in order: [sum of numel] (parameters_to_vector). */
export function parametersToVector(parameters: ParamsArg): Tensor {
  const ps = paramList('parametersToVector', parameters);
  if (ps.length === 0) throw new TorchError('parametersToVector: no parameters', 'ERR_INVALID_ARG');
  const device = ps[0].device;
  ps.forEach((q, i) => {
    if (q.device !== device) {
      throw new TorchError(`parametersToVector: parameters[${i}] is on ${q.device}, parameters[0] on ${device}`, 'ERR_DEVICE');
    }
  });
  return torch.tidy(() => torch.cat(ps.map((q) => q.view(-1))));
}

/**
 * Copies consecutive slices of `vec` into the parameters, in order (vector_to_parameters). Unlike
 * PyTorch, the parameters keep their own storage (values are copied, not aliased).
 */
export function vectorToParameters(vec: Tensor, parameters: ParamsArg): void {
  const ps = paramList('vectorToParameters', parameters);
  if (vec.ndim !== 1) throw new TorchError(`vectorToParameters: expected a 1-D vector, got shape ${JSON.stringify(vec.shape)}`, 'ERR_SHAPE_MISMATCH');
  const total = ps.reduce((n, q) => n + q.numel(), 0);
  if (total !== vec.shape[0]) {
    throw new TorchError(`vectorToParameters: the vector has ${vec.shape[0]} elements, the parameters ${total}`, 'ERR_SHAPE_MISMATCH');
  }
  torch.noGrad(() =>
    torch.tidy(() => {
      let offset = 0;
      for (const q of ps) {
        const n = q.numel();
        q.copy_(vec.narrow(0, offset, n).view(q.shape));
        offset += n;
      }
    }),
  );
}

/** Number of parameter elements, each tensor counted once (`trainableOnly`: those requiring grad). */
export function countParameters(parameters: ParamsArg, opts: { trainableOnly?: boolean } = {}): number {
  const seen = new Set<Tensor>();
  let n = 0;
  for (const q of paramList('countParameters', parameters)) {
    if (seen.has(q) || (opts.trainableOnly && !q.requiresGrad)) continue;
    seen.add(q);
    n += q.numel();
  }
  return n;
}
