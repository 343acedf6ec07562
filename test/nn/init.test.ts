/**
 * Initialisation parity: with the same torch.manualSeed, layers' default init and nn.init functions
 * draw exactly PyTorch's values (same LibTorch generator, same fan/gain/bound arithmetic).
 */
import t from 'tap';
import { torch, Tensor } from '../../lib/tensor';
import * as nn from '../../lib/nn';
import { bitEqual, maxAbsDiff, runPython, skipWithoutPython } from './pyref';

type Case = { name: string; js: () => Tensor[]; py: string };

const CASES: Case[] = [
  {
    name: 'Linear(64, 32)',
    js: () => {
      const l = new nn.Linear(64, 32);
      return [l.weight, l.bias!];
    },
    py: 'l = nn.Linear(64, 32); R = [l.weight, l.bias]',
  },
  { name: 'Linear(768, 3072) no bias', js: () => [new nn.Linear(768, 3072, { bias: false }).weight], py: 'R = [nn.Linear(768, 3072, bias=False).weight]' },
  {
    name: 'Conv2d(3, 8, 3)',
    js: () => {
      const c = new nn.Conv2d(3, 8, 3);
      return [c.weight, c.bias!];
    },
    py: 'c = nn.Conv2d(3, 8, 3); R = [c.weight, c.bias]',
  },
  {
    name: 'Conv2d(1, 64, 16, stride 16)',
    js: () => {
      const c = new nn.Conv2d(1, 64, 16, { stride: 16 });
      return [c.weight, c.bias!];
    },
    py: 'c = nn.Conv2d(1, 64, 16, stride=16); R = [c.weight, c.bias]',
  },
  {
    name: 'Conv3d(3, 16, [16, 16, 2])',
    js: () => {
      const c = new nn.Conv3d(3, 16, [16, 16, 2], { stride: [16, 16, 2] });
      return [c.weight, c.bias!];
    },
    py: 'c = nn.Conv3d(3, 16, (16, 16, 2), stride=(16, 16, 2)); R = [c.weight, c.bias]',
  },
  { name: 'Embedding(10, 6)', js: () => [new nn.Embedding(10, 6).weight], py: 'R = [nn.Embedding(10, 6).weight]' },
  { name: 'xavierUniform_ [96, 64]', js: () => [nn.init.xavierUniform_(torch.empty([96, 64]))], py: 'R = [nn.init.xavier_uniform_(torch.empty(96, 64))]' },
  {
    name: 'xavierUniform_ gain 1.7 [32, 3, 4, 4]',
    js: () => [nn.init.xavierUniform_(torch.empty([32, 3, 4, 4]), 1.7)],
    py: 'R = [nn.init.xavier_uniform_(torch.empty(32, 3, 4, 4), gain=1.7)]',
  },
  {
    name: 'xavierUniform_ on a flattened conv weight (reference patch embed)',
    js: () => {
      const c = new nn.Conv2d(1, 64, 16, { stride: 16 });
      const w = c.weight;
      nn.init.xavierUniform_(w.view([64, -1]));
      return [w];
    },
    py: 'c = nn.Conv2d(1, 64, 16, stride=16); w = c.weight.data; nn.init.xavier_uniform_(w.view([w.shape[0], -1])); R = [w]',
  },
  { name: 'xavierNormal_ [50, 40]', js: () => [nn.init.xavierNormal_(torch.empty([50, 40]))], py: 'R = [nn.init.xavier_normal_(torch.empty(50, 40))]' },
  {
    name: 'kaimingUniform_ fan_out relu',
    js: () => [nn.init.kaimingUniform_(torch.empty([40, 30]), { mode: 'fan_out', nonlinearity: 'relu' })],
    py: "R = [nn.init.kaiming_uniform_(torch.empty(40, 30), mode='fan_out', nonlinearity='relu')]",
  },
  {
    name: 'kaimingUniform_ a=sqrt(5)',
    js: () => [nn.init.kaimingUniform_(torch.empty([40, 30]), { a: Math.sqrt(5) })],
    py: 'R = [nn.init.kaiming_uniform_(torch.empty(40, 30), a=math.sqrt(5))]',
  },
  { name: 'kaimingNormal_', js: () => [nn.init.kaimingNormal_(torch.empty([64, 16, 3, 3]))], py: 'R = [nn.init.kaiming_normal_(torch.empty(64, 16, 3, 3))]' },
  {
    name: 'trunc_normal_(std=.02)',
    js: () => [nn.init.truncNormal_(torch.empty([1, 1, 768]), 0, 0.02)],
    py: 'R = [nn.init.trunc_normal_(torch.empty(1, 1, 768), std=.02)]',
  },
  { name: 'trunc_normal_ default [-2, 2]', js: () => [nn.init.trunc_normal_(torch.empty([2000]))], py: 'R = [nn.init.trunc_normal_(torch.empty(2000))]' },
  {
    name: 'trunc_normal_(mean 0.5, std 2, a -1, b 3)',
    js: () => [nn.init.truncNormal_(torch.empty([3000]), 0.5, 2, -1, 3)],
    py: 'R = [nn.init.trunc_normal_(torch.empty(3000), mean=0.5, std=2, a=-1, b=3)]',
  },
  {
    name: 'normal_(0, 0.02) [1, 1, 512]',
    js: () => [nn.init.normal_(torch.empty([1, 1, 512]), 0, 0.02)],
    py: 'R = [nn.init.normal_(torch.empty(1, 1, 512), std=0.02)]',
  },
  { name: 'uniform_(-0.3, 0.7)', js: () => [nn.init.uniform_(torch.empty([7, 9]), -0.3, 0.7)], py: 'R = [nn.init.uniform_(torch.empty(7, 9), -0.3, 0.7)]' },
  {
    name: 'constant_/zeros_/ones_',
    js: () => [nn.init.constant_(torch.empty([3]), 0.25), nn.init.zeros_(torch.empty([2])), nn.init.ones_(torch.empty([2]))],
    py: 'R = [nn.init.constant_(torch.empty(3), 0.25), nn.init.zeros_(torch.empty(2)), nn.init.ones_(torch.empty(2))]',
  },
];

t.test("seeded init draws PyTorch's exact values", { skip: skipWithoutPython() }, async (t) => {
  const script = ['import torch.nn as nn'];
  CASES.forEach((c, i) => {
    script.push(`torch.manual_seed(${1000 + i})`, c.py, `for _j, _r in enumerate(R): OUT['c${i}_%d' % _j] = _r.detach()`);
  });
  const py = runPython(script.join('\n'));
  const start = torch.memory().liveTensors;
  CASES.forEach((c, i) => {
    torch.manualSeed(1000 + i);
    const got = torch.tidy(() => c.js().map((x) => x.detach()));
    got.forEach((x, j) => {
      const ref = py.out.get(`c${i}_${j}`)!;
      t.same(x.shape, ref.shape, `${c.name} [${j}] shape`);
      const exact = bitEqual(x, ref);
      t.ok(exact, `${c.name} [${j}] bit-exact` + (exact ? '' : ` (max |diff| ${maxAbsDiff(x, ref)})`));
    });
    torch.dispose(got);
  });
  torch.dispose(py.out);
  t.ok(torch.memory().liveTensors - start <= CASES.length * 2, 'no large leak');
});

t.test('fan computation and gains follow PyTorch', async (t) => {
  const w = torch.empty([768, 3, 16, 16, 2]);
  t.same(nn.init.calculateFanInAndFanOut(w), { fanIn: 3 * 16 * 16 * 2, fanOut: 768 * 16 * 16 * 2 });
  t.throws(() => nn.init.calculateFanInAndFanOut(torch.empty([5])), { code: 'ERR_SHAPE_MISMATCH' });
  t.equal(nn.init.calculateGain('relu'), Math.SQRT2);
  t.equal(nn.init.calculateGain('tanh'), 5 / 3);
  t.equal(nn.init.calculateGain('leaky_relu', Math.sqrt(5)), Math.sqrt(2 / (1 + 5.000000000000001)));
  w.dispose();
});
