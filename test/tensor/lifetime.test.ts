/**
 * Tensor lifetime: dispose, use after dispose, tidy/keep scopes (nested, async misuse, throws),
 * the GC leak net, and a 10,000-step training loop whose live tensor count stays flat.
 */
import t from 'tap';
import { spawnSync } from 'child_process';
import { CHILD_TIMEOUT_MS } from '../helpers/wait';
import * as path from 'path';
import { torch, Tensor, TorchError } from '../../lib/tensor';

const live = () => torch.memory().liveTensors;

t.test('dispose is idempotent; use after dispose throws ERR_TENSOR_DISPOSED', async (t) => {
  const start = live();
  const x = torch.ones([2, 3]);
  t.equal(live(), start + 1);
  t.equal(x.isDisposed, false);
  x.dispose();
  t.equal(x.isDisposed, true);
  t.equal(live(), start);
  x.dispose();
  x.dispose();
  t.equal(live(), start, 'second and third dispose do nothing');
  const other = torch.zeros([1]);
  const uses: [string, () => unknown][] = [
    ['add', () => x.add(1)],
    ['add as operand', () => other.add(x)],
    ['sum', () => x.sum()],
    ['toArray', () => x.toArray()],
    ['item', () => x.item()],
    ['dtype', () => x.dtype],
    ['reshape', () => x.reshape([6])],
    ['matmul', () => x.matmul(x)],
    ['backward', () => x.backward()],
    ['grad', () => x.grad],
    ['requiresGrad', () => x.requiresGrad],
    ['detach', () => x.detach()],
    ['to', () => x.to('float64')],
    ['clone', () => x.clone()],
    ['index', () => x.index(0)],
    ['numel', () => x.numel()],
    ['cat', () => torch.cat([other, x])],
    ['keep', () => torch.keep(x)],
    ['device', () => x.device],
    ['stride', () => x.stride()],
    ['add_', () => x.add_(1)],
    ['F.linear', () => torch.nn.functional.linear(other, x)],
    ['tolist', () => x.tolist()],
  ];
  for (const [name, f] of uses) {
    let err: unknown;
    try {
      f();
    } catch (e) {
      err = e;
    }
    t.ok(err instanceof TorchError && (err as TorchError).code === 'ERR_TENSOR_DISPOSED', `${name} after dispose: ${(err as Error)?.message}`);
  }
  // shape and dtype are cached on first read; the cache must not outlive the tensor (dispose or tidy)
  const seen = torch.ones([2, 5]);
  const inTidy = torch.tidy(() => {
    const y = torch.zeros([4]);
    t.same([y.shape, y.dtype, y.ndim], [[4], 'float32', 1]);
    return () => y;
  })();
  t.same([seen.shape, seen.dtype, seen.size(1)], [[2, 5], 'float32', 5]);
  seen.dispose();
  for (const [name, z] of [
    ['disposed', seen],
    ['freed by tidy', inTidy],
  ] as const) {
    for (const [what, f] of [
      ['shape', () => z.shape],
      ['ndim', () => z.ndim],
      ['size()', () => z.size()],
      ['size(0)', () => z.size(0)],
      ['dtype', () => z.dtype],
    ] as const) {
      t.throws(f, { code: 'ERR_TENSOR_DISPOSED' }, `${what} of a ${name} tensor whose ${what} was read before`);
    }
  }
  t.match(
    String(
      (() => {
        try {
          x.add(1);
        } catch (e) {
          return (e as Error).message;
        }
      })(),
    ),
    /disposed/,
  );
  t.equal(x.toString(), 'Tensor(disposed)', 'toString of a disposed tensor does not throw');
  other.dispose();
  t.equal(live(), start);
});

t.test('tidy frees everything except what is returned or kept', async (t) => {
  const start = live();
  const outside = torch.ones([3]);
  let kept!: Tensor;
  let inner!: Tensor;
  const r = torch.tidy(() => {
    const a = torch.ones([3]);
    const b = a.mul(2);
    inner = b.add(1);
    kept = torch.keep(a.sub(1));
    outside.add(a);
    return { result: b, list: [a.neg()], map: new Map([['m', a.exp()]]), n: 3, s: 'x' };
  });
  t.equal(live(), start + 1 + 1 + 3, 'outside + kept + 3 returned');
  t.equal(inner.isDisposed, true, 'intermediate freed');
  t.equal(r.result.isDisposed, false);
  t.equal(r.list[0].isDisposed, false, 'tensors inside arrays survive');
  t.equal(r.map.get('m')!.isDisposed, false, 'tensors inside Maps survive');
  t.equal(kept.isDisposed, false);
  t.same(r.result.tolist(), [2, 2, 2]);
  torch.dispose(r);
  kept.dispose();
  outside.dispose();
  t.equal(live(), start, 'back to start');
});

t.test('nested tidy: returned tensors move to the parent scope', async (t) => {
  const start = live();
  let fromInner!: Tensor;
  let keptInner!: Tensor;
  const out = torch.tidy(() => {
    fromInner = torch.tidy(() => {
      const a = torch.ones([2]);
      keptInner = torch.keep(a.mul(3));
      return a.add(1);
    });
    t.equal(fromInner.isDisposed, false, 'alive in the parent scope');
    const sum = fromInner.sum();
    return sum;
  });
  t.equal(fromInner.isDisposed, true, 'freed by the parent scope when not returned again');
  t.equal(keptInner.isDisposed, false, 'kept survives every scope');
  t.equal(out.item(), 4);
  out.dispose();
  keptInner.dispose();
  t.equal(live(), start);
  const deep = torch.tidy(() => torch.tidy(() => torch.tidy(() => torch.tidy(() => torch.ones([1]).mul(5)))));
  t.equal(deep.item(), 5);
  deep.dispose();
  t.equal(live(), start, 'four levels deep');
  const same = torch.ones([1]);
  const back = torch.tidy(() => same);
  t.equal(back, same, 'returning an outer tensor is fine');
  t.equal(same.isDisposed, false);
  same.dispose();
  t.equal(live(), start);
});

t.test('tidy: throws and Promises', async (t) => {
  const start = live();
  t.throws(
    () =>
      torch.tidy(() => {
        torch.ones([5]).mul(2);
        throw new Error('inside');
      }),
    /inside/,
  );
  t.equal(live(), start, 'a throwing fn frees its tensors');
  let made!: Tensor;
  let err: unknown;
  try {
    torch.tidy((() => {
      made = torch.ones([2]);
      return Promise.resolve(made);
    }) as () => unknown);
  } catch (e) {
    err = e;
  }
  t.ok(err instanceof TorchError && (err as TorchError).code === 'ERR_TIDY_ASYNC', 'a Promise is an error');
  t.equal(made.isDisposed, true, 'tensors created before the Promise are freed');
  t.equal(live(), start);
  const rejected = () => Promise.reject(new Error('x'));
  t.throws(() => torch.tidy(rejected as () => unknown), { code: 'ERR_TIDY_ASYNC' }, 'a rejected Promise too (no unhandled rejection)');
  t.throws(() => torch.tidy(async () => 1), { code: 'ERR_TIDY_ASYNC' }, 'an async function');
  t.throws(() => torch.tidy(42 as unknown as () => number), { code: 'ERR_INVALID_ARG' });
  t.equal(
    torch.tidy(() => 7),
    7,
    'non-tensor results pass through',
  );
  t.equal(live(), start);
  // after all of that the scope stack is balanced: a new tidy frees as usual
  torch.tidy(() => {
    torch.ones([3]).add(1);
  });
  t.equal(live(), start);
});

t.test('memory() bytes follow allocations', async (t) => {
  const m0 = torch.memory();
  const big = torch.zeros([1000, 1000]);
  const m1 = torch.memory();
  t.equal(m1.bytes - m0.bytes, 4e6, '4 MB for a float32 [1000, 1000]');
  const view = big.reshape([-1]);
  t.equal(torch.memory().bytes, m1.bytes, 'views share storage: counted once');
  t.equal(torch.memory().liveTensors, m0.liveTensors + 2);
  big.dispose();
  t.equal(torch.memory().bytes, m1.bytes, 'storage alive while a view holds it');
  view.dispose();
  t.equal(torch.memory().bytes, m0.bytes);
});

t.test('many results disposed inside one long scope do not grow without bound', async (t) => {
  const start = live();
  const a = torch.ones([4]);
  torch.tidy(() => {
    for (let i = 0; i < 200000; i++) a.add(a).dispose();
    t.equal(live(), start + 1);
  });
  a.dispose();
  t.equal(live(), start);
});

t.test('GC leak net frees unreachable tensors created outside scopes', async (t) => {
  const lib = path.join(__dirname, '..', '..', 'lib', 'tensor', 'index.js');
  const script = `
    const { torch } = require(${JSON.stringify(lib)});
    const start = torch.memory().liveTensors;
    (function () { for (let i = 0; i < 2000; i++) torch.ones([16]); })();
    const made = torch.memory().liveTensors - start;
    const scoped = torch.tidy(() => { for (let i = 0; i < 10; i++) torch.keep(torch.ones([1])); return 0; });
    (async () => {
      for (let k = 0; k < 20 && torch.memory().liveTensors - start > 10; k++) {
        global.gc();
        await new Promise((r) => setTimeout(r, 10));
      }
      console.log(JSON.stringify({ made, after: torch.memory().liveTensors - start, scoped }));
    })();`;
  const r = spawnSync(process.execPath, ['--expose-gc', '-e', script], { encoding: 'utf8', timeout: CHILD_TIMEOUT_MS, killSignal: 'SIGKILL' });
  t.equal(r.status, 0, r.stderr);
  const res = JSON.parse(r.stdout);
  t.equal(res.made, 2000);
  t.equal(res.after, 10, 'only the 10 kept tensors (made inside tidy: not registered) remain');
});

t.test('10,000-step MLP training loop inside tidy keeps liveTensors flat', async (t) => {
  torch.manualSeed(0);
  const init = (shape: number[], scale: number) => torch.keep(torch.tidy(() => torch.randn(shape).mul(scale)).requiresGrad_(true));
  const w1 = init([16, 4], 0.5),
    b1 = init([16], 0),
    w2 = init([1, 16], 0.25),
    b2 = init([1], 0);
  const params = [w1, b1, w2, b2];
  const X = torch.keep(torch.randn([64, 4]));
  const Y = torch.keep(torch.tidy(() => X.matmul(torch.tensor([[1], [-2], [0.5], [3]])).sin()));
  const F = torch.nn.functional;
  const step = (lr: number) =>
    torch.tidy(() => {
      const h = F.gelu(F.linear(X, w1, b1));
      const out = F.linear(h, w2, b2);
      const loss = F.mseLoss(out, Y);
      loss.backward();
      torch.noGrad(() => {
        for (const p of params) {
          p.sub_(p.grad!.mul(lr));
          p.grad = null;
        }
      });
      return loss.item();
    });
  // One intra-op thread: these tiny ops gain nothing from more, and spinning OpenMP workers make a
  // loaded CI machine (other jobs on the same cores) many times slower.
  const threads = torch.getNumThreads();
  torch.setNumThreads(1);
  const rss0 = process.memoryUsage().rss;
  const live0 = live();
  const first = step(0.05);
  const counts: number[] = [];
  let last = first;
  for (let i = 1; i < 10000; i++) {
    last = step(0.05);
    if (i % 1000 === 0) counts.push(live() - live0);
  }
  const rss1 = process.memoryUsage().rss;
  torch.setNumThreads(threads);
  t.same(counts, new Array(counts.length).fill(0), 'liveTensors unchanged after every 1000 steps');
  t.equal(live(), live0, 'liveTensors back to its start value');
  t.ok(last < first * 0.5, `the loop trains (loss ${first.toFixed(4)} -> ${last.toFixed(4)})`);
  t.comment(
    `RSS start ${(rss0 / 2 ** 20).toFixed(1)} MiB, end ${(rss1 / 2 ** 20).toFixed(1)} MiB (delta ${((rss1 - rss0) / 2 ** 20).toFixed(1)} MiB) over 10,000 steps`,
  );
  t.ok(rss1 - rss0 < 64 * 2 ** 20, 'RSS grows by less than 64 MiB');
  torch.dispose([...params, X, Y]);
});
