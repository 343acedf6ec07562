/** GradScaler: scaled backward, unscaled update equal to the unscaled step, overflow skip, backoff/growth. */
import t from 'tap';
import { torch, nn, optim, Tensor } from '../../lib';

function setup() {
  torch.manualSeed(3);
  const lin = new nn.Linear(4, 2);
  const opt = new optim.SGD(lin.parameters(), { lr: 0.1 });
  const x = torch.keep(torch.randn([8, 4]));
  return { lin, opt, x };
}

t.test('a scaled step equals the plain step', async (t) => {
  const a = setup(),
    b = setup();
  const scaler = new optim.GradScaler({ initScale: 1024, growthInterval: 2 });
  torch.tidy(() => {
    a.lin.forward(a.x).square().mean().backward();
    a.opt.step();
    const loss = b.lin.forward(b.x).square().mean();
    scaler.scale(loss).backward();
    t.ok(scaler.step(b.opt), 'stepped');
    scaler.update();
  });
  for (const [pa, pb] of a.lin.parameters().map((p, i) => [p, b.lin.parameters()[i]] as [Tensor, Tensor])) {
    t.ok(torch.tidy(() => pa.sub(pb).abs().max().item()) < 1e-6, 'same parameters');
  }
  t.equal(scaler.getScale(), 1024, 'one clean step: no growth yet');
  torch.tidy(() => {
    scaler.scale(b.lin.forward(b.x).sum()).backward();
    scaler.step(b.opt);
    scaler.update();
  });
  t.equal(scaler.getScale(), 2048, 'grows after growthInterval clean steps');
  for (const s of [a, b]) {
    s.lin.dispose();
    s.opt.dispose();
    s.x.dispose();
  }
});

t.test('an overflow skips the step and backs off', async (t) => {
  const s = setup();
  const scaler = new optim.GradScaler({ initScale: 8 });
  const before = torch.tidy(() => s.lin.weight.clone());
  torch.keep(before);
  torch.tidy(() => {
    scaler.scale(s.lin.forward(s.x).sum().mul(Infinity)).backward();
    t.notOk(scaler.step(s.opt), 'skipped');
    scaler.update();
  });
  t.ok(s.lin.weight.equal(before), 'parameters unchanged');
  t.equal(scaler.getScale(), 4);
  t.same([...scaler.stateDict().keys()], ['scale', 'growth_factor', 'backoff_factor', 'growth_interval', '_growth_tracker']);
  t.throws(() => scaler.update(), { code: 'ERR_INVALID_ARG' }, 'update before step');
  before.dispose();
  s.lin.dispose();
  s.opt.dispose();
  s.x.dispose();
});
