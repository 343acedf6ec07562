/** CUDA tensor path: transfers, ops against the CPU result, autocast, fused attention, memory stats. */
import t from 'tap';
import { torch, F } from '../../lib';
import { SKIP_WITHOUT_CUDA } from '../helpers/device';

const opts = { skip: SKIP_WITHOUT_CUDA };

function maxAbsDiff(a: ReturnType<typeof torch.zeros>, b: ReturnType<typeof torch.zeros>): number {
  return torch.tidy(() => a.cpu().float().sub(b.cpu().float()).abs().max().item());
}

t.test('tensors move to cuda and back unchanged', opts, async (t) => {
  const before = torch.memory().liveTensors;
  torch.tidy(() => {
    const x = torch.randn([3, 5]);
    const g = x.to('cuda:0');
    t.equal(g.device, 'cuda:0');
    t.same(Array.from(g.cpu().toArray() as Float32Array), Array.from(x.toArray() as Float32Array));
    const pinned = x.pinMemory();
    const nb = pinned.to('cuda', { nonBlocking: true });
    torch.cuda.synchronize();
    t.same(Array.from(nb.cpu().toArray() as Float32Array), Array.from(x.toArray() as Float32Array));
  });
  t.equal(torch.memory().liveTensors, before);
});

t.test('ops on cuda match the cpu result in float32', opts, async (t) => {
  torch.manualSeed(1);
  torch.tidy(() => {
    const a = torch.randn([4, 16, 32]),
      w = torch.randn([24, 32]),
      b = torch.randn([24]);
    const ga = a.cuda(),
      gw = w.cuda(),
      gb = b.cuda();
    t.ok(maxAbsDiff(F.linear(a, w, b), F.linear(ga, gw, gb)) < 1e-4, 'linear');
    t.ok(maxAbsDiff(F.layerNorm(a, [32]), F.layerNorm(ga, [32])) < 1e-5, 'layerNorm');
    t.ok(maxAbsDiff(F.gelu(a), F.gelu(ga)) < 1e-6, 'gelu');
    t.ok(maxAbsDiff(a.softmax(-1), ga.softmax(-1)) < 1e-6, 'softmax');
    t.ok(maxAbsDiff(a.sum(1), ga.sum(1)) < 1e-4, 'sum');
    const v = torch.randn([2, 3, 32, 32, 4]),
      k = torch.randn([8, 3, 16, 16, 2]);
    t.ok(maxAbsDiff(F.conv3d(v, k, null, { stride: [16, 16, 2] }), F.conv3d(v.cuda(), k.cuda(), null, { stride: [16, 16, 2] })) < 1e-3, 'conv3d');
  });
});

t.test('autograd on cuda matches cpu gradients', opts, async (t) => {
  torch.manualSeed(2); // the input feeds a threshold: the same draw in any test order
  torch.tidy(() => {
    const x = torch.randn([5, 7]).requiresGrad_();
    const gx = x.detach().cuda().requiresGrad_();
    x.tanh().mul(x).sum().backward();
    gx.tanh().mul(gx).sum().backward();
    t.ok(maxAbsDiff(x.grad!, gx.grad!) < 1e-6);
  });
});

t.test('bf16 autocast runs matmuls in bfloat16 and keeps reductions in float32', opts, async (t) => {
  torch.tidy(() => {
    const a = torch.randn([64, 64], { device: 'cuda' });
    const y = torch.autocast(() => a.matmul(a));
    t.equal(y.dtype, 'bfloat16');
    const s = torch.autocast(() => a.matmul(a).softmax(-1));
    t.equal(s.dtype, 'float32');
    t.equal(a.matmul(a).dtype, 'float32', 'autocast is off again afterwards');
    const h = torch.autocast(() => a.matmul(a), { dtype: 'float16' });
    t.equal(h.dtype, 'float16');
  });
});

t.test('fused scaled-dot-product attention equals the explicit math', opts, async (t) => {
  torch.manualSeed(3); // the inputs feed a threshold: the same draw in any test order
  torch.tidy(() => {
    const q = torch.randn([2, 4, 50, 16], { device: 'cuda' });
    const k = torch.randn([2, 4, 50, 16], { device: 'cuda' });
    const v = torch.randn([2, 4, 50, 16], { device: 'cuda' });
    const fused = F.scaledDotProductAttention(q, k, v);
    const ref = q.matmul(k.transpose(-2, -1)).mul(0.25).softmax(-1).matmul(v);
    t.ok(maxAbsDiff(fused, ref) < 1e-4);
  });
});

t.test('memory statistics report allocations', opts, async (t) => {
  torch.cuda.resetPeakMemoryStats();
  const x = torch.zeros([1024, 1024], { device: 'cuda' });
  const s = torch.cuda.memoryStats();
  t.ok(s.allocatedBytes >= 4 * 1024 * 1024);
  t.ok(s.peakAllocatedBytes >= s.allocatedBytes);
  t.ok(torch.memory().cuda!.bytes >= 4 * 1024 * 1024);
  x.dispose();
});

t.test('cuda errors are JS errors with codes', opts, async (t) => {
  const a = torch.ones([2, 2], { device: 'cuda' }),
    b = torch.ones([2, 2]);
  t.throws(() => a.add(b), { code: 'ERR_DEVICE' });
  t.throws(() => torch.zeros([1e7, 1e7], { device: 'cuda' }), { code: 'ERR_OOM' });
  a.dispose();
  b.dispose();
});
