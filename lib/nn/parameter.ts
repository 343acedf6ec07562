/** Parameters and buffers: tensors a Module registers from its fields. */
import { Tensor } from '../tensor';
import { torch } from '../tensor';

const PARAMETERS = new WeakSet<Tensor>();
const BUFFERS = new WeakSet<Tensor>();

/**
 * Marks a tensor as a parameter (torch.nn.Parameter): it requires grad (unless told otherwise), is
 * exempt from tidy scopes, and is registered by the Module field that holds it. Returns the same tensor.
 */
export function Parameter(t: Tensor, requiresGrad = true): Tensor {
  torch.keep(t);
  if (requiresGrad !== t.requiresGrad) t.requiresGrad_(requiresGrad);
  PARAMETERS.add(t);
  return t;
}

/** Marks a tensor as a buffer (persistent state saved in stateDict, no gradient). Returns it. */
export function Buffer(t: Tensor): Tensor {
  torch.keep(t);
  BUFFERS.add(t);
  return t;
}

export const isParameter = (t: unknown): t is Tensor => t instanceof Tensor && PARAMETERS.has(t);
export const isBuffer = (t: unknown): t is Tensor => t instanceof Tensor && BUFFERS.has(t);
