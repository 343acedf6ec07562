/**
 * Shape ops (views, concatenation, splits, negative and stepped slices, padding) and indexing
 * (Python-style index(...) / indexAssign_, gather/scatter, masks, sort/topk) against Python torch.
 */
import t from 'tap';
import { torch, Tensor } from '../../lib/tensor';
import { compareTable, Row } from './pyref';

torch.manualSeed(99);
const x = torch.randn([3, 4, 5]);
const m = torch.arange(20, undefined, undefined, { dtype: 'float32' }).reshape([4, 5]);
const v = torch.randn([6]);
const idx = torch.tensor([
  [0, 2, 1, 0],
  [1, 1, 0, 2],
]);
const mask = torch.randn([4, 5]).gt(0);
const ties = torch.tensor([3, 1, 2, 1, 3, 0, 2, 1]);
const sel = torch.tensor([2, 0, -1]);
const inputs = { x, m, v, idx, mask, ties, sel };

const shapeRows: Row[] = [
  { name: 'reshape -1', ours: () => x.reshape([-1, 10]), py: 'out = x.reshape(-1, 10)' },
  { name: 'reshape varargs', ours: () => x.reshape(5, 12), py: 'out = x.reshape(5, 12)' },
  { name: 'view', ours: () => m.view([5, 4]), py: 'out = m.view(5, 4)' },
  { name: 'permute', ours: () => x.permute([2, 0, 1]), py: 'out = x.permute(2, 0, 1)' },
  { name: 'permute negative', ours: () => x.permute(-1, -3, -2), py: 'out = x.permute(-1, -3, -2)' },
  { name: 'transpose negative', ours: () => x.transpose(-1, -3), py: 'out = x.transpose(-1, -3)' },
  { name: 't', ours: () => m.t(), py: 'out = m.t()' },
  { name: 'movedim', ours: () => x.movedim(0, -1), py: 'out = x.movedim(0, -1)' },
  { name: 'movedim lists', ours: () => x.movedim([0, 1], [2, 0]), py: 'out = x.movedim([0, 1], [2, 0])' },
  { name: 'contiguous of view', ours: () => x.transpose(0, 2).contiguous(), py: 'out = x.transpose(0, 2).contiguous()' },
  { name: 'flatten all', ours: () => x.flatten(), py: 'out = x.flatten()' },
  { name: 'flatten range', ours: () => x.flatten(1), py: 'out = x.flatten(1)' },
  { name: 'flatten negative', ours: () => x.flatten(0, -2), py: 'out = x.flatten(0, -2)' },
  { name: 'unflatten', ours: () => x.unflatten(-1, [5, 1]), py: 'out = x.unflatten(-1, (5, 1))' },
  { name: 'unflatten -1', ours: () => m.unflatten(1, [-1, 1]), py: 'out = m.unflatten(1, (-1, 1))' },
  { name: 'squeeze all', ours: () => x.unsqueeze(0).unsqueeze(-1).squeeze(), py: 'out = x.unsqueeze(0).unsqueeze(-1).squeeze()' },
  { name: 'squeeze dim', ours: () => x.unsqueeze(1).squeeze(1), py: 'out = x.unsqueeze(1).squeeze(1)' },
  { name: 'squeeze non-1 dim is a no-op', ours: () => x.squeeze(0), py: 'out = x.squeeze(0)' },
  { name: 'unsqueeze -1', ours: () => m.unsqueeze(-1), py: 'out = m.unsqueeze(-1)' },
  { name: 'expand', ours: () => v.unsqueeze(0).expand([3, 6]), py: 'out = v.unsqueeze(0).expand(3, 6)' },
  { name: 'expand -1', ours: () => m.unsqueeze(0).expand(2, -1, -1), py: 'out = m.unsqueeze(0).expand(2, -1, -1)' },
  { name: 'expandAs', ours: () => v.reshape([1, 6]).expandAs(torch.zeros([2, 6])), py: 'out = v.reshape(1, 6).expand_as(torch.zeros(2, 6))' },
  { name: 'repeat', ours: () => m.repeat(2, 1, 3), py: 'out = m.repeat(2, 1, 3)' },
  { name: 'repeatInterleave flat', ours: () => v.repeatInterleave(2), py: 'out = v.repeat_interleave(2)' },
  { name: 'repeatInterleave dim', ours: () => m.repeatInterleave(3, 0), py: 'out = m.repeat_interleave(3, dim=0)' },
  { name: 'cat dim -1', ours: () => torch.cat([x, x.mul(2)], -1), py: 'out = torch.cat([x, x * 2], -1)' },
  { name: 'cat dim 0', ours: () => torch.cat([m, m.slice(0, 0, 1)]), py: 'out = torch.cat([m, m[0:1]])' },
  { name: 'stack', ours: () => torch.stack([m, m, m], 1), py: 'out = torch.stack([m, m, m], 1)' },
  { name: 'stack -1', ours: () => torch.stack([v, v], -1), py: 'out = torch.stack([v, v], -1)' },
  { name: 'split size', ours: () => x.split(2, 1), py: 'out = list(x.split(2, 1))' },
  { name: 'split sizes', ours: () => x.split([1, 4], -1), py: 'out = list(x.split([1, 4], -1))' },
  { name: 'chunk uneven', ours: () => v.chunk(4), py: 'out = list(v.chunk(4))' },
  { name: 'unbind', ours: () => m.unbind(1), py: 'out = list(m.unbind(1))' },
  { name: 'narrow negative start', ours: () => x.narrow(-1, -3, 2), py: 'out = x.narrow(-1, -3, 2)' },
  { name: 'slice start:end', ours: () => m.slice(1, 1, 4), py: 'out = m[:, 1:4]' },
  { name: 'slice negative bounds', ours: () => m.slice(1, -4, -1), py: 'out = m[:, -4:-1]' },
  { name: 'slice stepped', ours: () => m.slice(1, null, null, 2), py: 'out = m[:, ::2]' },
  { name: 'slice stepped offset', ours: () => m.slice(0, 1, null, 2), py: 'out = m[1::2]' },
  { name: 'slice out-of-range clamps', ours: () => m.slice(1, -100, 100), py: 'out = m[:, -100:100]' },
  { name: 'slice empty', ours: () => m.slice(1, 3, 1), py: 'out = m[:, 3:1]' },
  { name: 'select negative', ours: () => x.select(-1, -2), py: 'out = x[..., -2]' },
  { name: 'flip', ours: () => x.flip([0, -1]), py: 'out = x.flip((0, -1))' },
  { name: 'roll', ours: () => m.roll(2, 1), py: 'out = m.roll(2, 1)' },
  { name: 'roll multi', ours: () => m.roll([1, -2], [0, 1]), py: 'out = m.roll((1, -2), (0, 1))' },
  { name: 'tril', ours: () => m.tril(), py: 'out = m.tril()' },
  { name: 'triu offset', ours: () => m.triu(1), py: 'out = m.triu(1)' },
  { name: 'tril negative', ours: () => m.tril(-1), py: 'out = m.tril(-1)' },
  { name: 'unfold', ours: () => v.unfold(0, 3, 2), py: 'out = v.unfold(0, 3, 2)' },
  { name: 'asStrided', ours: () => v.asStrided([2, 2], [1, 2], 1), py: 'out = v.as_strided((2, 2), (1, 2), 1)' },
  { name: 'pad constant', ours: () => torch.nn.functional.pad(m, [1, 2], { value: -1 }), py: 'out = F.pad(m, (1, 2), value=-1.0)' },
  { name: 'pad constant 2 dims', ours: () => torch.nn.functional.pad(m, [0, 1, 2, 0]), py: 'out = F.pad(m, (0, 1, 2, 0))' },
  { name: 'pad negative crops', ours: () => torch.nn.functional.pad(m, [-1, -1]), py: 'out = F.pad(m, (-1, -1))' },
  { name: 'pad reflect', ours: () => torch.nn.functional.pad(x, [2, 1], { mode: 'reflect' }), py: "out = F.pad(x, (2, 1), mode='reflect')" },
  {
    name: 'pad replicate 2d',
    ours: () => torch.nn.functional.pad(x.unsqueeze(0), [1, 1, 2, 0], { mode: 'replicate' }),
    py: "out = F.pad(x.unsqueeze(0), (1, 1, 2, 0), mode='replicate')",
  },
];
compareTable(t, 'shape ops vs torch', inputs, shapeRows);

const indexRows: Row[] = [
  { name: 'index int', ours: () => x.index(1), py: 'out = x[1]' },
  { name: 'index negative int', ours: () => x.index(-1, -2), py: 'out = x[-1, -2]' },
  { name: 'index all ints -> 0-d', ours: () => x.index(0, 1, 2), py: 'out = x[0, 1, 2]' },
  { name: 'index slices', ours: () => x.index(':', '1:3'), py: 'out = x[:, 1:3]' },
  { name: 'index negative slice', ours: () => x.index('-2:', ':-1', '::2'), py: 'out = x[-2:, :-1, ::2]' },
  { name: 'index stepped', ours: () => x.index('::2', '1::2'), py: 'out = x[::2, 1::2]' },
  { name: 'index slice object', ours: () => x.index({ start: 1 }, { end: -1, step: 2 }), py: 'out = x[1:, :-1:2]' },
  { name: 'index ellipsis', ours: () => x.index('...', 0), py: 'out = x[..., 0]' },
  { name: 'index ellipsis middle', ours: () => x.index(0, '...', '1:'), py: 'out = x[0, ..., 1:]' },
  { name: 'index None', ours: () => x.index(null, ':', null), py: 'out = x[None, :, None]' },
  { name: 'index nothing', ours: () => x.index(), py: 'out = x[()]' },
  { name: 'index tensor', ours: () => x.index(sel), py: 'out = x[sel]' },
  { name: 'index tensor second dim', ours: () => x.index(':', sel.slice(0, 0, 2)), py: 'out = x[:, sel[:2]]' },
  { name: 'index two tensors (zip)', ours: () => x.index(sel, sel.slice(0, 0, 3).remainder(4)), py: 'out = x[sel, sel[:3] % 4]' },
  { name: 'index tensor + slice', ours: () => x.index('1:', sel.remainder(4), '::2'), py: 'out = x[1:, sel % 4, ::2]' },
  { name: 'index bool mask', ours: () => m.index(mask), py: 'out = m[mask]' },
  { name: 'index bool row mask', ours: () => m.index(torch.tensor([true, false, true, true])), py: 'out = m[torch.tensor([True, False, True, True])]' },
  { name: 'index integer list', ours: () => x.index([2, 0, 0]), py: 'out = x[[2, 0, 0]]' },
  { name: 'index slice + integer list', ours: () => x.index(':', [-1, 1]), py: 'out = x[:, [-1, 1]]' },
  { name: 'index int + tensor', ours: () => x.index(0, sel.remainder(4)), py: 'out = x[0, sel % 4]' },
  {
    name: 'indexAssign_ x[:, a:b] = y',
    ours: () => {
      const c = m.clone();
      c.indexAssign_([':', '1:3'], torch.ones([4, 2]).mul(-1));
      return c;
    },
    py: 'c = m.clone(); c[:, 1:3] = -torch.ones(4, 2); out = c',
  },
  {
    name: 'indexAssign_ broadcast row',
    ours: () => {
      const c = m.clone();
      c.indexAssign_(['::2'], torch.arange(5, undefined, undefined, { dtype: 'float32' }));
      return c;
    },
    py: 'c = m.clone(); c[::2] = torch.arange(5.); out = c',
  },
  {
    name: 'indexAssign_ scalar',
    ours: () => {
      const c = m.clone();
      c.indexAssign_(['...', -1], 7);
      return c;
    },
    py: 'c = m.clone(); c[..., -1] = 7; out = c',
  },
  {
    name: 'indexAssign_ mask',
    ours: () => {
      const c = m.clone();
      c.indexAssign_([mask], 0);
      return c;
    },
    py: 'c = m.clone(); c[mask] = 0; out = c',
  },
  {
    name: 'indexAssign_ tensor index',
    ours: () => {
      const c = m.clone();
      c.indexAssign_([torch.tensor([0, 3]), '1:'], torch.zeros([2, 4]));
      return c;
    },
    py: 'c = m.clone(); c[torch.tensor([0, 3]), 1:] = torch.zeros(2, 4); out = c',
  },
  {
    name: 'indexAssign_ int64 into float promotes value',
    ours: () => {
      const c = m.clone();
      c.indexAssign_([0], torch.tensor([1, 2, 3, 4, 5]));
      return c;
    },
    py: 'c = m.clone(); c[0] = torch.tensor([1, 2, 3, 4, 5]); out = c',
  },
  {
    name: 'indexPut_ accumulate',
    ours: () => {
      const c = torch.zeros([5]);
      c.indexPut_([torch.tensor([0, 1, 1, 4])], torch.ones([4]), true);
      return c;
    },
    py: 'c = torch.zeros(5); c.index_put_((torch.tensor([0, 1, 1, 4]),), torch.ones(4), accumulate=True); out = c',
  },
  { name: 'gather dim 1', ours: () => m.slice(0, 0, 2).gather(1, idx), py: 'out = m[:2].gather(1, idx)' },
  { name: 'gather dim 0', ours: () => m.gather(0, idx), py: 'out = m.gather(0, idx)' },
  { name: 'gather negative dim', ours: () => m.gather(-1, idx), py: 'out = m.gather(-1, idx)' },
  { name: 'scatter src', ours: () => torch.zeros([2, 5]).scatter(1, idx, m.slice(0, 0, 2)), py: 'out = torch.zeros(2, 5).scatter(1, idx, m[:2])' },
  { name: 'scatter value', ours: () => torch.zeros([2, 5]).scatter(1, idx.slice(1, 0, 2), 9), py: 'out = torch.zeros(2, 5).scatter(1, idx[:, :2], 9.0)' },
  { name: 'scatterAdd', ours: () => torch.zeros([3, 5]).scatterAdd(0, idx, m.slice(0, 0, 2)), py: 'out = torch.zeros(3, 5).scatter_add(0, idx, m[:2])' },
  { name: 'indexSelect', ours: () => x.indexSelect(1, torch.tensor([3, 0, 3])), py: 'out = x.index_select(1, torch.tensor([3, 0, 3]))' },
  { name: 'indexSelect negative dim', ours: () => x.indexSelect(-1, torch.tensor([4, 1])), py: 'out = x.index_select(-1, torch.tensor([4, 1]))' },
  { name: 'maskedFill', ours: () => m.maskedFill(mask, -5), py: 'out = m.masked_fill(mask, -5.0)' },
  {
    name: 'maskedFill broadcast mask',
    ours: () => m.maskedFill(torch.tensor([true, false, false, true, false]), 0),
    py: 'out = m.masked_fill(torch.tensor([True, False, False, True, False]), 0.0)',
  },
  { name: 'maskedFill tensor value', ours: () => m.maskedFill(mask, torch.tensor(2.5)), py: 'out = m.masked_fill(mask, torch.tensor(2.5))' },
  {
    name: 'maskedFill_',
    ours: () => {
      const c = m.clone();
      c.maskedFill_(mask, -Infinity);
      return c;
    },
    py: "c = m.clone(); c.masked_fill_(mask, float('-inf')); out = c",
  },
  { name: 'maskedSelect', ours: () => m.maskedSelect(mask), py: 'out = m.masked_select(mask)' },
  { name: 'sort', ours: () => [...x.sort()], py: 'out = list(x.sort())' },
  { name: 'sort dim 0 descending', ours: () => [...x.sort(0, true)], py: 'out = list(x.sort(0, descending=True))' },
  { name: 'sort stable with ties', ours: () => [...ties.sort(0, false, { stable: true })], py: 'out = list(ties.sort(stable=True))' },
  { name: 'sort stable descending ties', ours: () => [...ties.sort(-1, true, { stable: true })], py: 'out = list(ties.sort(descending=True, stable=True))' },
  { name: 'argsort', ours: () => x.argsort(1), py: 'out = x.argsort(1)' },
  { name: 'argsort descending', ours: () => v.argsort(0, true), py: 'out = v.argsort(0, descending=True)' },
  { name: 'topk', ours: () => [...x.topk(2)], py: 'out = list(x.topk(2))' },
  { name: 'topk smallest dim 0', ours: () => [...x.topk(2, 0, false)], py: 'out = list(x.topk(2, 0, largest=False))' },
  { name: 'topk flat', ours: () => [...v.topk(6)], py: 'out = list(v.topk(6))' },
  { name: 'nonzero', ours: () => mask.nonzero(), py: 'out = mask.nonzero()' },
  { name: 'oneHot', ours: () => torch.nn.functional.oneHot(torch.tensor([0, 2, 1]), 4), py: 'out = F.one_hot(torch.tensor([0, 2, 1]), 4)' },
  { name: 'embedding', ours: () => torch.nn.functional.embedding(idx, m), py: 'out = F.embedding(idx, m)' },
];
compareTable(t, 'indexing, gather/scatter, sort/topk vs torch', inputs, indexRows);

t.test('views share storage; index returns views for basic specs', async (t) => {
  const a = torch.zeros([3, 4]);
  const col = a.index(':', 1);
  col.fill_(5);
  t.same(
    a.tolist(),
    [
      [0, 5, 0, 0],
      [0, 5, 0, 0],
      [0, 5, 0, 0],
    ],
    'basic index is a view (writes show through)',
  );
  const s = a.slice(1, 2, 4);
  s.add_(1);
  t.same((a.tolist() as number[][])[0], [0, 5, 1, 1]);
  const adv = a.index(torch.tensor([0]));
  adv.fill_(-1);
  t.same((a.tolist() as number[][])[0], [0, 5, 1, 1], 'advanced index is a copy');
  const whole = a.index();
  t.not(whole.id, a.id, 'index() returns a new handle');
  t.same(whole.shape, [3, 4]);
  const y = torch.arange(6).reshape([2, 3]);
  y.indexAssign_([1, '0:2'], torch.tensor([9, 8]));
  t.same(y.tolist(), [
    [0, 1, 2],
    [9, 8, 5],
  ]);
  t.throws(() => y.index(0, 0, 0), { code: 'ERR_INDEX' }, 'too many indices');
  t.throws(() => y.index(5), { code: 'ERR_INDEX' }, 'out of range select');
  t.throws(() => y.index('1:2:0'), 'zero step');
  t.throws(() => y.index('::-1'), 'negative step is not supported (as torch)');
  t.throws(() => y.index('...', '...'), { code: 'ERR_INVALID_ARG' });
  t.throws(() => y.index('a:b'), { code: 'ERR_INVALID_ARG' });
  t.same(y.index({}).shape, [2, 3], '{} is a full slice');
  t.throws(() => y.index({ begin: 1 } as unknown as string), { code: 'ERR_INVALID_ARG' }, 'unknown slice key');
  t.throws(() => y.index({ start: 0.5 }), { code: 'ERR_INVALID_ARG' }, 'non-integer slice bound');
  t.throws(() => y.index(true as unknown as number), { code: 'ERR_INVALID_ARG' });
  t.throws(() => y.index(1.5), { code: 'ERR_INVALID_ARG' });
  void Tensor;
});
