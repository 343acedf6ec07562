/**
 * nn.Module: state-dict keys and order (own parameters, own buffers, then children; ModuleList,
 * Sequential, ModuleDict; tied weights) checked against PyTorch; strict loading errors; the
 * `module.` prefix; train/eval; requiresGrad_; to(dtype); dispose and live-tensor accounting.
 */
import t from 'tap';
import { torch, Tensor } from '../../lib/tensor';
import * as nn from '../../lib/nn';
import { Buffer as NNBuffer, Parameter } from '../../lib/nn';
import { runPython, skipWithoutPython } from './pyref';

class Block extends nn.Module {
  norm1 = new nn.LayerNorm(4);
  attn = new nn.Linear(4, 12);
  scale = NNBuffer(torch.ones([1]));
  mlp = new nn.Sequential([new nn.Linear(4, 8), new nn.GELU(), new nn.Linear(8, 4)]);
  forward(x: Tensor): Tensor {
    return torch.tidy(() => x.add(this.mlp.forward(this.norm1.forward(x))));
  }
}

class Net extends nn.Module {
  pos = Parameter(torch.zeros([1, 3, 4]));
  blocks = new nn.ModuleList([new Block(), new Block()]);
  head = new nn.Sequential([new nn.LayerNorm(4), new nn.Linear(4, 2)]);
  heads = new nn.ModuleDict({ a: new nn.Linear(4, 1), b: new nn.Linear(4, 1, { bias: false }) });
  running = NNBuffer(torch.zeros([4]));
  tok = Parameter(torch.zeros([1, 1, 4]));
  constructor(tie = false) {
    super();
    if (tie) {
      const b = this.heads.get('b') as nn.Linear;
      b.weight.dispose();
      b.weight = (this.heads.get('a') as nn.Linear).weight;
    }
  }
  forward(x: Tensor): Tensor {
    return torch.tidy(() => {
      let y = x.add(this.pos);
      for (const b of this.blocks) y = (b as Block).forward(y);
      return this.head.forward(y);
    });
  }
}

const PY_NET = `
import torch.nn as nn
class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.norm1 = nn.LayerNorm(4)
        self.attn = nn.Linear(4, 12)
        self.register_buffer('scale', torch.ones(1))
        self.mlp = nn.Sequential(nn.Linear(4, 8), nn.GELU(), nn.Linear(8, 4))
class Net(nn.Module):
    def __init__(self, tie=False):
        super().__init__()
        self.pos = nn.Parameter(torch.zeros(1, 3, 4))
        self.blocks = nn.ModuleList([Block(), Block()])
        self.head = nn.Sequential(nn.LayerNorm(4), nn.Linear(4, 2))
        self.heads = nn.ModuleDict({'a': nn.Linear(4, 1), 'b': nn.Linear(4, 1, bias=False)})
        self.register_buffer('running', torch.zeros(4))
        self.tok = nn.Parameter(torch.zeros(1, 1, 4))
        if tie:
            self.heads['b'].weight = self.heads['a'].weight
`;

t.test('stateDict / namedParameters / namedBuffers order and names match PyTorch', { skip: skipWithoutPython() }, async (t) => {
  const py = runPython(
    PY_NET +
      `
for tie in (False, True):
    n = Net(tie)
    JSON['sd%d' % tie] = [[k, list(v.shape)] for k, v in n.state_dict().items()]
    JSON['np%d' % tie] = [k for k, _ in n.named_parameters()]
    JSON['nb%d' % tie] = [k for k, _ in n.named_buffers()]
    JSON['nm%d' % tie] = [k for k, _ in n.named_modules()]
    JSON['count%d' % tie] = sum(p.numel() for p in n.parameters())
`,
  );
  for (const tie of [false, true]) {
    const k = Number(tie);
    const net = new Net(tie);
    const sd = net.stateDict();
    t.same(
      [...sd].map(([name, v]) => [name, v.shape]),
      py.json[`sd${k}`],
      `state_dict keys and shapes (tie=${tie})`,
    );
    t.same(
      net.namedParameters().map(([n]) => n),
      py.json[`np${k}`],
      `named_parameters (tie=${tie})`,
    );
    t.same(
      net.namedBuffers().map(([n]) => n),
      py.json[`nb${k}`],
      `named_buffers (tie=${tie})`,
    );
    t.same(
      net.namedModules().map(([n]) => n),
      py.json[`nm${k}`],
      `named_modules (tie=${tie})`,
    );
    t.equal(net.numParameters(), py.json[`count${k}`], `parameter count (tie=${tie})`);
    torch.dispose(sd);
    net.dispose();
  }
});

t.test('stateDict order without Python: own params, own buffers, then children', async (t) => {
  const net = new Net();
  const keys = [...net.stateDict().keys()];
  t.same(keys.slice(0, 3), ['pos', 'tok', 'running']);
  // Block has no own parameters: its buffer comes first, then its children
  t.same(keys.slice(3, 8), ['blocks.0.scale', 'blocks.0.norm1.weight', 'blocks.0.norm1.bias', 'blocks.0.attn.weight', 'blocks.0.attn.bias']);
  t.same(keys.slice(-5), ['head.1.weight', 'head.1.bias', 'heads.a.weight', 'heads.a.bias', 'heads.b.weight']);
  torch.dispose(net.stateDict());
  net.dispose();
});

t.test('loadStateDict: round trip, module. prefix, strict errors list every problem', async (t) => {
  const start = torch.memory().liveTensors;
  torch.manualSeed(1);
  const a = new Net(),
    b = new Net();
  const sd = a.stateDict();
  t.same(b.loadStateDict(sd), { missingKeys: [], unexpectedKeys: [], mismatchedKeys: [] });
  const sdb = b.stateDict();
  for (const [k, v] of sdb) t.ok(v.equal(sd.get(k)!), `loaded ${k}`);
  torch.dispose(sdb);

  // DataParallel / DDP checkpoints: every key starts with module.
  const prefixed = new Map([...sd].map(([k, v]) => [`module.${k}`, v]));
  const c = new Net();
  t.same(c.loadStateDict(prefixed).missingKeys, []);
  t.ok(c.blocks.at(1)!.namedParameters()[0][1].equal(sd.get('blocks.1.norm1.weight')!), 'module.-prefixed values loaded');
  // a partial prefix is not stripped: those keys are unexpected
  const mixed = new Map(sd);
  mixed.set('module.extra', torch.zeros([1]));
  t.throws(() => c.loadStateDict(mixed), { code: 'ERR_STATE_DICT' });

  // every problem in one error
  const bad = new Map(sd);
  bad.delete('tok');
  bad.delete('blocks.1.mlp.2.bias');
  bad.set('blocks.0.attn.weight', torch.zeros([3, 4]));
  bad.set('decoder.weight', torch.zeros([2]));
  bad.set('mask_token', torch.zeros([1, 1, 4]));
  bad.set('pos', torch.ones([1, 3, 4]));
  let err: (Error & { code?: string; issues?: { code: string; key: string; expected?: number[]; found?: number[] }[] }) | undefined;
  try {
    c.loadStateDict(bad);
  } catch (e) {
    err = e as typeof err;
  }
  t.ok(err, 'strict load throws');
  t.equal(err!.code, 'ERR_STATE_DICT');
  t.equal(err!.name, 'StateDictError');
  const msg = err!.message;
  for (const k of ['tok', 'blocks.1.mlp.2.bias', 'decoder.weight', 'mask_token', 'blocks.0.attn.weight']) t.match(msg, k, `message names ${k}`);
  t.match(msg, /2 missing, 2 unexpected, 1 shape-mismatched/);
  t.match(msg, /\[12,4\].*\[3,4\]/, 'expected and found shapes');
  t.same(err!.issues!.map((i) => [i.code, i.key]).sort(), [
    ['missing_key', 'blocks.1.mlp.2.bias'],
    ['missing_key', 'tok'],
    ['shape_mismatch', 'blocks.0.attn.weight'],
    ['unexpected_key', 'decoder.weight'],
    ['unexpected_key', 'mask_token'],
  ]);
  // nothing was loaded by the failed strict call
  const sdc = c.stateDict();
  t.ok(sdc.get('pos')!.equal(sd.get('pos')!), 'model unchanged after failed strict load');
  torch.dispose(sdc);

  // non-strict: a shape mismatch is still an error (as in PyTorch) ...
  const d = new Net();
  t.throws(() => d.loadStateDict(bad, { strict: false }), { code: 'ERR_STATE_DICT', message: /blocks\.0\.attn\.weight/ });
  // ... without it, what matches loads and the rest is reported
  const fine = new Map([...bad].filter(([k]) => k !== 'blocks.0.attn.weight'));
  const r = d.loadStateDict(fine, { strict: false });
  t.same(r.missingKeys.sort(), ['blocks.0.attn.weight', 'blocks.1.mlp.2.bias', 'tok']);
  t.same(r.unexpectedKeys.sort(), ['decoder.weight', 'mask_token']);
  t.same(r.mismatchedKeys, []);
  t.ok(d.head.at(1)!.namedParameters()[0][1].equal(sd.get('head.1.weight')!), 'matching keys loaded in non-strict mode');

  // non-tensor values are always an error
  t.throws(() => d.loadStateDict(new Map([['pos', 3 as unknown as Tensor]]), { strict: false }), { code: 'ERR_STATE_DICT' });

  for (const m of [a, b, c, d]) m.dispose();
  torch.dispose([sd, bad.get('blocks.0.attn.weight'), bad.get('decoder.weight'), bad.get('mask_token'), bad.get('pos'), mixed.get('module.extra')]);
  t.equal(torch.memory().liveTensors, start, 'live tensors back to start');
});

t.test('train/eval propagate; requiresGrad_(false) freezes; to(float64) keeps identity', async (t) => {
  const net = new Net();
  t.ok(
    net.modules().every((m) => m.training),
    'training by default',
  );
  net.eval();
  t.ok(
    net.modules().every((m) => !m.training),
    'eval() reaches every descendant',
  );
  net.blocks.train();
  t.ok(net.blocks.modules().every((m) => m.training) && !net.training && !net.head.training, 'train() on a child only');
  net.train();
  t.ok(net.modules().every((m) => m.training));

  const total = net.numParameters();
  net.blocks.requiresGrad_(false);
  t.ok(
    net.blocks.parameters().every((p) => !p.requiresGrad),
    'frozen',
  );
  t.ok(
    net.head.parameters().every((p) => p.requiresGrad),
    'others trainable',
  );
  t.equal(net.numParameters({ trainableOnly: true }), total - net.blocks.numParameters());
  // a frozen block gets no gradient
  torch.tidy(() =>
    net
      .forward(torch.randn([2, 3, 4]))
      .sum()
      .backward(),
  );
  t.ok(
    net.blocks.parameters().every((p) => p.grad === undefined),
    'no grads on frozen parameters',
  );
  const hw = net.head.parameters()[0];
  t.ok(hw.grad !== undefined, 'grads on trainable parameters');
  net.zeroGrad();
  t.equal(hw.grad, undefined, 'zeroGrad sets grads to undefined');
  net.requiresGrad_(true);

  const params = net.parameters();
  const before = params.map((p) => p.to('float64'));
  net.to('float64');
  const after = net.parameters();
  t.ok(
    after.every((p, i) => p === params[i]),
    'same Tensor objects after to()',
  );
  t.ok(after.every((p) => p.dtype === 'float64') && net.buffers().every((b) => b.dtype === 'float64'), 'params and buffers are float64');
  t.ok(
    after.every((p, i) => p.equal(before[i])),
    'values preserved',
  );
  t.ok(
    after.every((p) => p.requiresGrad && p.isLeaf),
    'still trainable leaves',
  );
  const y = torch.tidy(() => net.forward(torch.randn([2, 3, 4], { dtype: 'float64' })));
  t.equal(y.dtype, 'float64', 'forward in float64');
  torch.dispose([before, y]);
  net.dispose();
});

t.test('dispose frees every parameter and buffer; liveTensors returns to start', async (t) => {
  const start = torch.memory().liveTensors;
  const net = new Net(true);
  const n = net.parameters().length + net.buffers().length;
  t.equal(torch.memory().liveTensors - start, n, 'one handle per parameter/buffer (tied weight once)');
  const sd = net.stateDict();
  torch.tidy(() =>
    net
      .forward(torch.randn([2, 3, 4]))
      .sum()
      .backward(),
  );
  torch.dispose(sd);
  net.zeroGrad();
  net.dispose();
  t.ok(
    net.parameters().every((p) => p.isDisposed),
    'all disposed',
  );
  t.throws(() => net.parameters()[0].add(1), { code: 'ERR_TENSOR_DISPOSED' });
  t.equal(torch.memory().liveTensors, start, 'live tensors back to start');
});
