/**
 * A differentiable all-gather for a synchronous forward: every rank's rows, concatenated in rank order,
 * for a loss over the global batch (SocialMAE's contrastive loss: PretrainForwardOptions.contrastGather).
 *
 *   const all = allGatherRows(x);   // x [n_r, ...] on rank r -> [n_0 + ... + n_{W-1}, ...] on every rank
 *
 * Gradients. The other ranks' rows are constants here; this rank's rows stay in the graph with their
 * gradient multiplied by the world size W. When every rank computes the same loss L from `all` (the case
 * it is made for) that is exactly what torch.distributed.nn.functional.all_gather's backward gives (it
 * sums the W identical gradients of this rank's slice, one all-reduce; here the sum is W times the local
 * one, no collective), and DDP's average over the ranks then yields dL/dθ of one process on the union
 * batch: (1/W) Σ_r W ∂L/∂x_r ∂x_r/∂θ. test/distributed/ddp.test.ts checks it against one process.
 *
 * The wait is synchronous (the forward is), on the JS thread but without the fork gate, bounded by the
 * group's timeout (native/distributed/dist_ops.cc distAllGatherSync): a dead peer ends it with
 * ERR_DIST_PEER or ERR_DIST_TIMEOUT, never a hang. Ranks may hold different row counts (a first
 * all-gather exchanges them); the trailing dimensions and dtype must agree. Call it from every rank, in
 * the same order as the other collectives.
 */
import { native as N } from '../native/binding';
import { Tensor, TorchError, torch } from '../tensor';
import { argError } from '../tensor/errors';
import { currentGroup } from './process_group';

function gatherSync(id: number, outputs: Tensor[], input: Tensor, timeoutMs: number): void {
  N.distAllGatherSync(
    id,
    outputs.map((t) => t.id),
    input.id,
    timeoutMs,
  );
}

/** `x` with its value unchanged and its gradient multiplied by `k` (x.detach() + k * (x - x.detach()): the
 *  second term is exactly 0, so the value is x bit for bit). */
export function scaleGrad(x: Tensor, k: number): Tensor {
  if (k === 1 || !x.requiresGrad) return x;
  return torch.tidy(() => {
    const c = x.detach();
    return c.add(x.sub(c).mul(k));
  });
}

/** x [n_r, ...] on rank r -> [Σ n_r, ...], rank order; this rank's rows carry x's graph, gradient × world size. */
export function allGatherRows(x: Tensor, opts: { timeoutMs?: number } = {}): Tensor {
  const fn = 'allGatherRows';
  const g = currentGroup(fn);
  if (!(x instanceof Tensor) || x.ndim < 1) argError(fn, 'x', 'a Tensor with at least one dimension', x);
  const timeoutMs = opts.timeoutMs ?? g.info.timeoutMs;
  if (!Number.isSafeInteger(timeoutMs) || timeoutMs < 1) argError(fn, 'timeoutMs', 'an integer >= 1', timeoutMs);
  const { rank, worldSize: W } = g.info;
  if (W === 1) return x;
  return torch.tidy(() => {
    const device = x.device; // NCCL gathers CUDA tensors only: the row counts travel on x's device too
    const sizes = Array.from({ length: W }, () => torch.zeros([1], { dtype: 'int64', device }));
    gatherSync(g.id, sizes, torch.tensor([x.shape[0]!], { dtype: 'int64' }).to(device), timeoutMs);
    const n = sizes.map((s) => Number(s.to('cpu').toArray()[0]));
    const most = Math.max(...n);
    const rest = x.shape.slice(1);
    const mine = torch.noGrad(() => {
      const d = x.detach().contiguous();
      return d.shape[0] === most ? d : torch.cat([d, torch.zeros([most - d.shape[0]!, ...rest], { dtype: x.dtype, device: x.device })], 0);
    });
    const outs = Array.from({ length: W }, () => torch.zeros([most, ...rest], { dtype: x.dtype, device: x.device }));
    try {
      gatherSync(g.id, outs, mine, timeoutMs);
    } catch (e) {
      const err = e as TorchError;
      if (err.code === 'ERR_SHAPE_MISMATCH' || err.code === 'ERR_DTYPE')
        throw new TorchError(
          `${fn}: every rank must gather rows of the same trailing shape and dtype (here ${x.dtype} ${JSON.stringify(rest)}): ${err.message}`,
          err.code,
        );
      throw e;
    }
    const parts = outs.map((o, k) => (k === rank ? scaleGrad(x, W) : o.narrow(0, 0, n[k]!)));
    return torch.cat(parts, 0);
  });
}
