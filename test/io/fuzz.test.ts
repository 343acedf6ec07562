/**
 * Fuzzing the checkpoint readers: at least 5,000 mutated files per run (see fuzz_lib.ts). Every
 * case must load or throw an Error with one of the layer's codes; none may crash or hang.
 * `SMAE_FUZZ_CASES` / `SMAE_FUZZ_SEED` change the count and the random seed.
 */
import t from 'tap';
import { FIX } from './helpers';
import { fuzz } from './fuzz_lib';

const CASES = Number(process.env.SMAE_FUZZ_CASES ?? 5000);
// A fixed default seed: the outcome checks below must not depend on the run (set SMAE_FUZZ_SEED to explore).
const SEED = Number(process.env.SMAE_FUZZ_SEED ?? 20240611);

t.test(`fuzz: ${CASES} mutated checkpoints (seed ${SEED})`, async (t) => {
  const s = await fuzz(FIX, CASES, SEED);
  t.comment(JSON.stringify({ seed: SEED, outcomes: s.outcomes, slowestMs: Math.round(s.slowestMs), elapsedMs: s.elapsedMs }));
  t.ok(s.cases >= CASES * 0.98, `${s.cases} cases ran`);
  t.equal(s.outcomes.FAIL ?? 0, 0, 'every case loads or throws an Error with a known code');
  for (const f of s.failures.slice(0, 5)) t.comment(`${f.mutation} on ${f.seed} (case ${f.caseIndex}): ${f.message}`);
  t.ok(s.slowestMs < 5000, `slowest case took ${Math.round(s.slowestMs)} ms of CPU time`);
  t.ok((s.outcomes.ok ?? 0) > 0 && (s.outcomes.ERR_CHECKPOINT_CORRUPT ?? 0) > 0, 'both loads and refusals happen');
});
