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
 * all-gather exchanges them, with the row size and dtype); rows of different sizes or dtypes are
 * ERR_SHAPE_MISMATCH on every rank. Call it from every rank, in the same order as the other collectives.
 */
import { native as N } from '../native/binding';
import { Tensor, TorchError, torch } from '../tensor';
import { DTYPES } from '../tensor/dtype';
import { argError } from '../tensor/errors';
import { currentGroup } from './process_group';

/** One synchronous all-gather; its errors keep their code and name allGatherRows (the user's call). */
function gatherSync(id: number, outputs: Tensor[], input: Tensor, timeoutMs: number): void {
  try {
    N.distAllGatherSync(
      id,
      outputs.map((t) => t.id),
      input.id,
      timeoutMs,
    );
  } catch (e) {
    const err = e as TorchError;
    throw new TorchError(`allGatherRows: ${err.message}`, err.code ?? 'ERR_DIST');
  }
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
    const device = x.device; // NCCL gathers CUDA tensors only: the metadata travels on x's device too
    const rest = x.shape.slice(1);
    // First every rank's [rows, elements per row, dtype]: the data gather needs one row layout everywhere,
    // and a mismatch is then an error on every rank alike (not a hang on some)
    const meta = Array.from({ length: W }, () => torch.zeros([3], { dtype: 'int64', device }));
    const mineMeta = torch.tensor([x.shape[0]!, rest.reduce((a, b) => a * b, 1), DTYPES.indexOf(x.dtype)], { dtype: 'int64' }).to(device);
    gatherSync(g.id, meta, mineMeta, timeoutMs);
    const all = meta.map((m) => Array.from(m.to('cpu').toArray() as ArrayLike<bigint | number>, Number));
    if (all.some((m) => m[1] !== all[rank]![1] || m[2] !== all[rank]![2])) {
      const say = (m: number[]) => `${m[1]} ${DTYPES[m[2]!] ?? '?'} elements`;
      throw new TorchError(`${fn}: every rank must gather rows of one size and dtype; per row the ranks hold ${all.map(say).join(', ')}`, 'ERR_SHAPE_MISMATCH');
    }
    const n = all.map((m) => m[0]!);
    const most = Math.max(...n);
    const mine = torch.noGrad(() => {
      const d = x.detach().contiguous();
      return d.shape[0] === most ? d : torch.cat([d, torch.zeros([most - d.shape[0]!, ...rest], { dtype: x.dtype, device })], 0);
    });
    const outs = Array.from({ length: W }, () => torch.zeros([most, ...rest], { dtype: x.dtype, device }));
    gatherSync(g.id, outs, mine, timeoutMs);
    const parts = outs.map((o, k) => (k === rank ? scaleGrad(x, W) : o.narrow(0, 0, n[k]!)));
    return torch.cat(parts, 0);
  });
}
