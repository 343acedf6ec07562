/** A PyTorch-saved LR-scheduler state (MultiStepLR keeps a collections.Counter) loads and resumes. */
import t from 'tap';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { torch, nn, optim, io } from '../../lib';
import { noTorchReason, py } from './helpers';

t.test('MultiStepLR state saved by torch resumes here', { skip: noTorchReason() }, async (t) => {
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'smae-sched-')), 'sched.pt');
  py(
    String.raw`
import sys, torch
m = torch.nn.Linear(2, 2)
o = torch.optim.SGD(m.parameters(), lr=0.1)
s = torch.optim.lr_scheduler.MultiStepLR(o, [3, 5, 5], gamma=0.5)
for _ in range(4):
    o.step(); s.step()
torch.save(s.state_dict(), sys.argv[1])`,
    [file],
  );
  const state = await io.load<Map<string, unknown>>(file);
  t.same(
    [...(state.get('milestones') as Map<number, number>)],
    [
      [3, 1],
      [5, 2],
    ],
    'Counter -> Map of counts',
  );
  const lin = new nn.Linear(2, 2);
  // The optimizer as its own restored state would leave it: lr already decayed once (epoch 3).
  const opt = new optim.SGD(lin.parameters(), { lr: 0.05 });
  const sched = new optim.MultiStepLR(opt, [1], { gamma: 0.5 });
  sched.loadStateDict(state);
  t.equal(sched.lastEpoch, 4);
  sched.step();
  t.same(sched.getLastLr(), [0.0125], 'the double milestone at 5 applies gamma twice (torch: 0.0125)');
  opt.dispose();
  lin.dispose();
  torch.dispose(state);
});
