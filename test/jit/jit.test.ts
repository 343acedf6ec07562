/** torch.jit.load: a module scripted by PyTorch runs here on our tensors with PyTorch's numbers. */
import t from 'tap';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { spawnSync } from 'child_process';
import { CHILD_TIMEOUT_MS } from '../helpers/wait';
import { torch, Tensor } from '../../lib';

const PY = '/usr/bin/python3';
const noTorch = spawnSync(PY, ['-c', 'import torch'], { encoding: 'utf8' }).status === 0 ? false : `${PY} with torch is not available`;

t.test('a scripted module: forward, another method, tuple results, same values as PyTorch', { skip: noTorch }, async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'smae-jit-'));
  const file = path.join(dir, 'm.pt');
  const script = path.join(dir, 'make.py');
  // torch.jit.script reads the class's source, so the generator is a file, not `python -c`.
  fs.writeFileSync(
    script,
    String.raw`
import sys, torch
class M(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = torch.nn.Linear(4, 3)
    def forward(self, x):
        return torch.nn.functional.gelu(self.fc(x)).softmax(-1)
    @torch.jit.export
    def pair(self, x, y):
        return (x + y, x.sum())
torch.manual_seed(0)
m = torch.jit.script(M())
m.save(sys.argv[1])
x = torch.arange(8, dtype=torch.float32).reshape(2, 4) / 7
print(' '.join(repr(v) for v in m(x).flatten().tolist()))
`,
  );
  const r = spawnSync(PY, [script, file], { encoding: 'utf8', timeout: CHILD_TIMEOUT_MS, killSignal: 'SIGKILL' });
  t.equal(r.status, 0, r.stderr);
  const expected = r.stdout.trim().split(' ').map(Number);
  const before = torch.memory().liveTensors;
  const m = torch.jit.load(file);
  t.ok(m.methods().includes('forward') && m.methods().includes('pair'), 'methods listed');
  torch.tidy(() => {
    const x = torch.arange(8).float().reshape([2, 4]).div(7);
    const y = m.forward(x) as Tensor;
    t.same(y.shape, [2, 3]);
    t.same(Array.from(y.toArray() as Float32Array), expected.map(Math.fround), 'bit-identical to PyTorch');
    const [sum, total] = m.call('pair', x, x) as [Tensor, Tensor];
    t.ok(sum.equal(x.mul(2)));
    t.equal(total.item(), x.sum().item());
  });
  const one = torch.ones([1, 4]);
  t.throws(() => m.call('nope', one), { code: 'ERR_INVALID_ARG' });
  m.dispose();
  m.dispose();
  t.throws(() => m.forward(one), { code: 'ERR_TENSOR_DISPOSED' });
  one.dispose();
  t.equal(torch.memory().liveTensors, before, 'no tensors leak');
});

t.test('loading something that is not TorchScript is a coded error', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'smae-jit-'));
  const junk = path.join(dir, 'junk.pt');
  fs.writeFileSync(junk, 'not a zip');
  t.throws(() => torch.jit.load(junk), { code: /^ERR_/ });
  t.throws(() => torch.jit.load(path.join(dir, 'missing.pt')), { code: /^ERR_/ });
  t.throws(() => torch.jit.load(42 as unknown as string), { code: 'ERR_INVALID_ARG' });
});
