/** Loading the addon: an explicit SOCIAL_MAE_ADDON that does not load is an error naming it. */
import t from 'tap';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { spawnSync } from 'child_process';
import { CHILD_TIMEOUT_MS } from '../helpers/wait';

const LIB = path.resolve(__dirname, '../../lib');
const probe = `try { require(${JSON.stringify(LIB)}); console.log('loaded'); } catch (e) { console.log(e.code + '|' + e.message); }`;

t.test('SOCIAL_MAE_ADDON is used alone', async (t) => {
  const missing = spawnSync(process.execPath, ['-e', probe], {
    encoding: 'utf8',
    timeout: CHILD_TIMEOUT_MS,
    killSignal: 'SIGKILL',
    env: { ...process.env, SOCIAL_MAE_ADDON: '/nonexistent/social_mae.node' },
  });
  t.match(missing.stdout, /^ERR_ADDON_LOAD\|social-mae: could not load the native addon/);
  t.match(missing.stdout, /\/nonexistent\/social_mae\.node: not found/);
  t.notMatch(missing.stdout, /build\/Release/, 'no silent fallback to another build');
  const junk = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'smae-addon-')), 'junk.node');
  fs.writeFileSync(junk, 'not a shared object');
  t.teardown(() => fs.rmSync(path.dirname(junk), { recursive: true, force: true }));
  const notAddon = spawnSync(process.execPath, ['-e', probe], {
    encoding: 'utf8',
    timeout: CHILD_TIMEOUT_MS,
    killSignal: 'SIGKILL',
    env: { ...process.env, SOCIAL_MAE_ADDON: junk },
  });
  t.match(notAddon.stdout, /^ERR_ADDON_LOAD\|/);
  const { SOCIAL_MAE_ADDON: _unset, ...env } = process.env;
  const normal = spawnSync(process.execPath, ['-e', probe], { encoding: 'utf8', timeout: CHILD_TIMEOUT_MS, killSignal: 'SIGKILL', env });
  t.equal(normal.stdout.trim(), 'loaded', normal.stderr);
});
