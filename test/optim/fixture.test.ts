/**
 * The reference fixture: one torch.optim.Adam(lr 1e-3, betas (0.95, 0.999), weight_decay 5e-7) step
 * on the pretrain model's parameters with the stored gradients reproduces
 * pretrain_params_after_adam.pt (to 1e-6 absolute). The 192 parameters that got no gradient in
 * PyTorch (stored as zeros) must be skipped, not fed zeros: they stay unchanged.
 * Then optimizer state files: ours saved with io.save resume in Python's torch.load +
 * load_state_dict, and PyTorch's torch.save'd optimizer state loads here with io.load.
 */
import t from 'tap';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { torch, Tensor } from '../../lib/tensor';
import { Adam, SGD } from '../../lib/optim';
import { load, save } from '../../lib/io';
import { bitEqual, maxAbsDiff, runPython, skipWithoutPython } from '../nn/pyref';

const FIX = [path.join(__dirname, '..', '..', '..', 'test', 'fixtures'), path.join(__dirname, '..', 'fixtures')].find((d) =>
  fs.existsSync(path.join(d, 'pretrain_grads.pt')),
);
const noFixtures = FIX ? false : 'skipped: test/fixtures/pretrain_*.pt not found';

t.test('one Adam step reproduces pretrain_params_after_adam.pt', { skip: noFixtures }, async (t) => {
  const start = torch.memory().liveTensors;
  const meta = JSON.parse(fs.readFileSync(path.join(FIX!, 'models_meta.json'), 'utf8'));
  const noGrad = new Set<string>(meta.pretrain.params_without_grad);
  const sd = await load(path.join(FIX!, 'pretrain_state_dict.pt'));
  const grads = await load(path.join(FIX!, 'pretrain_grads.pt'));
  const after = await load(path.join(FIX!, 'pretrain_params_after_adam.pt'));
  t.equal(after.size, sd.size, 'one entry per parameter (527 in the tiny pretrain model)');
  t.equal(noGrad.size, 192);

  const names = [...after.keys()];
  const params = torch.tidy(() => names.map((n) => torch.keep(sd.get(`module.${n}`)!.clone().requiresGrad_(true))));
  torch.tidy(() =>
    names.forEach((n, i) => {
      if (!noGrad.has(n)) params[i].grad = grads.get(n)!;
    }),
  );
  const a = meta.adam;
  const opt = new Adam(params, { lr: a.lr, betas: a.betas, eps: a.eps, weightDecay: a.weight_decay, amsgrad: a.amsgrad, maximize: a.maximize });
  opt.step();

  let worst = 0,
    exact = 0,
    unchanged = 0;
  names.forEach((n, i) => {
    const d = maxAbsDiff(params[i], after.get(n)!);
    worst = Math.max(worst, d);
    if (torch.tidy(() => bitEqual(params[i].detach(), after.get(n)!))) exact++;
    if (noGrad.has(n)) {
      if (torch.tidy(() => params[i].detach().equal(sd.get(`module.${n}`)!))) unchanged++;
    }
    if (d > 1e-6) t.fail(`${n}: max |diff| ${d}`);
  });
  t.ok(worst <= 1e-6, `all ${names.length} parameters within 1e-6 (worst ${worst}); ${exact} bit-identical`);
  t.equal(unchanged, 192, 'parameters without gradients are unchanged');
  t.equal(opt.state.size, names.length - 192, 'state only for parameters with gradients');
  const n = countElems(params);
  t.equal(n, meta.pretrain.num_params, 'parameter count 1,368,640');

  opt.dispose();
  torch.dispose([params, [...sd.values()], [...grads.values()], [...after.values()]]);
  t.equal(torch.memory().liveTensors, start, 'live tensors back to start');
});

function countElems(ts: Tensor[]): number {
  return ts.reduce((s, x) => s + x.numel(), 0);
}

const SHAPES = [[5, 3], [3], [2, 2, 2], [4]];
const PY_GRADS = `
shapes = ${JSON.stringify(SHAPES)}
def grads(k):
    torch.manual_seed(200 + k)
    return [torch.randn(s) for s in shapes]
def run(opt, ps, ks):
    for k in ks:
        gs = grads(k)
        for i, p in enumerate(ps): p.grad = gs[i] if i != 3 else None
        opt.step()
`;
function stepHere(opt: Adam | SGD, ps: Tensor[], k: number): void {
  torch.manualSeed(200 + k);
  torch.tidy(() => {
    const gs = SHAPES.map((s) => torch.randn(s));
    ps.forEach((p, i) => {
      p.grad = i === 3 ? undefined : gs[i];
    });
  });
  opt.step();
}

t.test('optimizer state files: io.save -> Python torch.load, and Python torch.save -> io.load', { skip: skipWithoutPython() }, async (t) => {
  const start = torch.memory().liveTensors;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'smae-optim-'));
  try {
    torch.manualSeed(3);
    const init = SHAPES.map((s) => torch.keep(torch.randn(s)));
    const mine = path.join(dir, 'ours.pth'),
      theirs = path.join(dir, 'theirs.pth');

    // ours -> Python
    const ps = torch.tidy(() => init.map((x) => torch.keep(x.clone().requiresGrad_(true))));
    const opt = new Adam([{ params: ps.slice(0, 2) }, { params: ps.slice(2), lr: 0.01, amsgrad: true }], { betas: [0.95, 0.999], weightDecay: 5e-7 });
    for (let k = 0; k < 3; k++) stepHere(opt, ps, k);
    const sd = opt.stateDict();
    const modelSd = new Map(ps.map((p, i) => [`p${i}`, p.detach()]));
    await save({ model: modelSd, optimizer: sd, epoch: 3 }, mine);
    torch.dispose(modelSd);
    const inputs: Record<string, Tensor> = {};
    init.forEach((x, i) => {
      inputs[`init${i}`] = x;
    });
    const py = runPython(
      PY_GRADS +
        `
# torch 1.13's weights_only unpickler lacks BINFLOAT (any float, e.g. lr); 2.x reads this file with weights_only=True
ck = torch.load(${JSON.stringify(mine)}, weights_only=not torch.__version__.startswith('1.'))
ps = [ck['model']['p%d' % i].clone().requires_grad_(True) for i in range(4)]
opt = torch.optim.Adam([{'params': ps[:2]}, {'params': ps[2:]}])
opt.load_state_dict(ck['optimizer'])
JSON['epoch'] = ck['epoch']
JSON['groups'] = [{k: v for k, v in g.items() if k != 'params'} for g in opt.param_groups]
JSON['betas_is_tuple'] = isinstance(ck['optimizer']['param_groups'][0]['betas'], tuple)
JSON['step_type'] = [str(ck['optimizer']['state'][0]['step'].dtype), list(ck['optimizer']['state'][0]['step'].shape)]
run(opt, ps, range(3, 5))
for i, p in enumerate(ps): OUT['end%d' % i] = p

# PyTorch's own file
ps2 = [IN['init%d' % i].clone().requires_grad_(True) for i in range(4)]
opt2 = torch.optim.SGD([{'params': ps2[:2], 'momentum': 0.9}, {'params': ps2[2:]}], lr=0.1)
run(opt2, ps2, range(0, 3))
torch.save({'model': {('p%d' % i): p.detach() for i, p in enumerate(ps2)}, 'optimizer': opt2.state_dict()}, ${JSON.stringify(theirs)})
run(opt2, ps2, range(3, 5))
for i, p in enumerate(ps2): OUT['sgd_end%d' % i] = p
`,
      inputs,
    );
    t.equal(py.json.epoch, 3);
    t.equal(py.json.betas_is_tuple, true, 'betas arrive as a tuple');
    t.same(py.json.step_type, ['torch.float32', []], 'step is a float32 0-d tensor');
    t.same(
      (py.json.groups as Record<string, unknown>[]).map((g) => [g.lr, g.amsgrad, g.weight_decay]),
      [
        [1e-3, false, 5e-7],
        [0.01, true, 5e-7],
      ],
    );
    for (let k = 3; k < 5; k++) stepHere(opt, ps, k);
    ps.forEach((p, i) =>
      t.ok(
        torch.tidy(() => bitEqual(p.detach(), py.out.get(`end${i}`)!)),
        `Adam param ${i}: Python resumed our file identically`,
      ),
    );

    // Python -> ours
    const ck = await load<Map<string, unknown>>(theirs);
    const model = ck.get('model') as Map<string, Tensor>;
    const ps2 = torch.tidy(() => [0, 1, 2, 3].map((i) => torch.keep(model.get(`p${i}`)!.clone().requiresGrad_(true))));
    const opt2 = new SGD([{ params: ps2.slice(0, 2) }, { params: ps2.slice(2) }], { lr: 1 });
    opt2.loadStateDict(ck.get('optimizer') as Map<string, unknown>);
    t.same(
      opt2.paramGroups.map((g) => [g.lr, g.momentum]),
      [
        [0.1, 0.9],
        [0.1, 0],
      ],
      'hyperparameters from the PyTorch file',
    );
    for (let k = 3; k < 5; k++) stepHere(opt2, ps2, k);
    ps2.forEach((p, i) =>
      t.ok(
        torch.tidy(() => bitEqual(p.detach(), py.out.get(`sgd_end${i}`)!)),
        `SGD param ${i}: resumed PyTorch's file identically`,
      ),
    );

    opt.dispose();
    opt2.dispose();
    torch.dispose([init, ps, ps2, sd, [...py.out.values()], [...model.values()]]);
    const optState = (ck.get('optimizer') as Map<string, unknown>).get('state') as Map<number, Map<string, unknown>>;
    for (const s of optState.values()) torch.dispose([...s.values()]);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
  t.equal(torch.memory().liveTensors, start, 'live tensors back to start');
});
