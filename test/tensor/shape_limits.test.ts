/**
 * Shapes longer than MAX_DIMS fail at once with ERR_INVALID_ARG (before: a 1e7-long shape took seconds to
 * convert element by element, and `zeros` then built a 10-million-dimensional tensor).
 */
import t from 'tap';
import { torch, TorchError } from '../../lib/tensor';
import { MAX_DIMS } from '../../lib/tensor/errors';

const long = new Array(1_000_000).fill(1);
const x = torch.zeros([2]);
const calls: [string, () => unknown][] = [
  ['zeros', () => torch.zeros(long)],
  ['ones', () => torch.ones(long)],
  ['empty', () => torch.empty(long)],
  ['full', () => torch.full(long, 1)],
  ['randn', () => torch.randn(long)],
  ['randint', () => torch.randint(0, 2, long)],
  ['view', () => x.view(long)],
  ['reshape', () => x.reshape(long)],
  ['expand', () => x.expand(long)],
  ['permute', () => x.permute(long)],
  ['repeat', () => x.repeat(long)],
  ['unflatten', () => x.unflatten(0, long)],
];

for (const [name, f] of calls) {
  t.test(name, async (t) => {
    const before = torch.memory().liveTensors;
    let err: unknown;
    try {
      f();
    } catch (e) {
      err = e;
    }
    t.ok(err instanceof TorchError, 'a TorchError');
    t.equal((err as TorchError).code, 'ERR_INVALID_ARG');
    t.match((err as Error).message, `at most ${MAX_DIMS} dimensions, got an array of length 1000000`);
    t.equal(torch.memory().liveTensors, before, 'no tensor leaked');
  });
}

t.test('MAX_DIMS dimensions still work; split sizes are not shapes', async (t) => {
  const ones = new Array(MAX_DIMS).fill(1);
  t.equal(torch.zeros(ones).ndim, MAX_DIMS);
  t.equal(x.reshape([2, ...ones.slice(1)]).ndim, MAX_DIMS);
  t.equal(torch.zeros([100]).split(new Array(100).fill(1)).length, 100, 'a split into more than MAX_DIMS pieces');
});
