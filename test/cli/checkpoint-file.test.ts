/**
 * lib/cli/checkpoint-file.ts in process: a state dict at the root or under a training script's entry
 * (io.NESTED_KEYS, e.g. `{ model: sd, epoch: 3 }`) is found and its model recognised; a file without one
 * is a usage error naming what was looked for; `inspect` recognises the nested one too.
 */
import t from 'tap';
import * as path from 'path';
import { SocialMAEFT, io, torch } from '../../lib';
import { describeModel, readCheckpoint } from '../../lib/cli/checkpoint-file';
import { spawnSync } from 'child_process';
import { tmpDir } from '../data/helpers';
import { CHILD_TIMEOUT_MS } from '../helpers/wait';

t.test('a state dict at the root or nested under model / state_dict', async (t) => {
  const { dir, cleanup } = tmpDir('smae-ckfile-');
  t.teardown(cleanup);
  torch.manualSeed(0);
  const m = new SocialMAEFT({ embedDim: 64, numHeads: 1, modalitySpecificDepth: 1, unifiedDepth: 1, imgSize: 32, audioLength: 64, labelDim: 2 });
  const sd = m.stateDict();
  const before = torch.memory().liveTensors;
  for (const [name, tree] of [
    ['flat.pth', sd],
    [
      'model.pth',
      new Map<string, unknown>([
        ['model', sd],
        ['epoch', 3],
      ]),
    ],
    [
      'sd.pth',
      new Map<string, unknown>([
        ['state_dict', sd],
        ['optimizer', new Map([['lr', 0.1]])],
      ]),
    ],
  ] as const) {
    const file = path.join(dir, name);
    await io.save(tree, file);
    const ck = await readCheckpoint(file);
    t.equal(ck.stateDict.size, sd.size, name);
    t.match(describeModel(ck.inferred), /^Social-MAE finetuning model \(labelDim 2, embedDim 64, depth 1\+1/, name);
    torch.dispose(ck.stateDict);
    t.equal(torch.memory().liveTensors, before, `${name}: nothing loaded is left alive`);
  }
  const ins = spawnSync(process.execPath, [path.resolve(__dirname, '../../lib/cli/main.js'), 'inspect', path.join(dir, 'model.pth')], {
    encoding: 'utf8',
    timeout: CHILD_TIMEOUT_MS,
    killSignal: 'SIGKILL',
  });
  t.equal(ins.status, 0, ins.stderr);
  t.match(ins.stdout, /model\.blocks_a\.0\.attn\.qkv\.weight\tfloat32\t\[192,64\]/);
  t.match(ins.stdout, /looks like: Social-MAE finetuning model \(labelDim 2, embedDim 64/, 'inspect recognises the nested state dict too');
  await io.save(new Map([['weights', new Map([['a', 1]])]]), path.join(dir, 'none.pth'));
  await t.rejects(readCheckpoint(path.join(dir, 'none.pth')), {
    code: 'ERR_USAGE',
    message: /holds no state dict .*state_dict \/ model \/ model_state_dict \/ module/,
  });
  torch.dispose(sd);
  m.dispose();
});
