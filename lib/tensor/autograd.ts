/** torch.autograd: functional gradients. */
import { native as N } from '../native/binding';
import { Tensor, wrap, tid } from './tensor';
import { checkOptions, opt } from './options';

/**
 * Gradients of outputs with respect to inputs (torch.autograd.grad). Entries are undefined for inputs
 * that outputs do not depend on (allowUnused) — otherwise such an input is an error.
 */
export function grad(
  outputs: Tensor | Tensor[],
  inputs: Tensor | Tensor[],
  opts: { gradOutputs?: Tensor[]; retainGraph?: boolean; createGraph?: boolean; allowUnused?: boolean } = {},
): (Tensor | undefined)[] {
  checkOptions('autograd.grad', opts, { gradOutputs: opt.tensors, retainGraph: opt.boolean, createGraph: opt.boolean, allowUnused: opt.boolean });
  const outs = Array.isArray(outputs) ? outputs : [outputs];
  const ins = Array.isArray(inputs) ? inputs : [inputs];
  const ids = N.autogradGrad(
    outs.map((t, k) => tid(t, 'autograd.grad', `outputs[${k}]`)),
    ins.map((t, k) => tid(t, 'autograd.grad', `inputs[${k}]`)),
    opts.gradOutputs ? opts.gradOutputs.map((t, k) => tid(t, 'autograd.grad', `gradOutputs[${k}]`)) : null,
    opts.retainGraph ?? null,
    !!opts.createGraph,
    !!opts.allowUnused,
  );
  return ids.map((id) => (id === null ? undefined : wrap(id)));
}
