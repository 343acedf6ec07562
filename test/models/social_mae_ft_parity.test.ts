/** SocialMAEFT against the reference fixtures (compat 'reference'): logits, intermediates, gradients. */
import t from 'tap';
import { Tensor, torch } from '../../lib/tensor';
import { SocialMAEFT, loadCheckpoint } from '../../lib/models';
import { TINY_ENCODER, disposeMap, loadPt, readJson, relErr } from './helpers';

const TOL = 1e-5;
const GRAD_TOL = 1e-4;

t.test('FT parity (fixtures)', async (t) => {
  const io = await loadPt('ft_io.pt');
  const sd = await loadPt('ft_state_dict.pt');
  const grads = await loadPt('ft_grads.pt');
  const meta = readJson('models_meta.json');
  const g = (k: string) => io.get(k) as Tensor;
  const model = new SocialMAEFT({ labelDim: 6, ...TINY_ENCODER, compat: 'reference' });
  const report = loadCheckpoint(model, sd);
  t.equal(report.loaded.length, 478, 'DataParallel checkpoint loads strictly');
  model.eval();
  const caps = new Map<string, Tensor>();
  model.debugHook = (name, x) => caps.set(name, torch.keep(x.detach()));
  const errors: Record<string, number> = {};

  const liveBefore = torch.memory().liveTensors;
  for (const mode of ['multimodal', 'audioonly', 'videoonly'] as const) {
    const logits = torch.noGrad(() => model.forward(g('a'), g('v'), mode));
    t.same(logits.shape, [2, 6]);
    errors[`logits_${mode}`] = relErr(logits, g(`logits_${mode}`));
    errors[`pooled_${mode}`] = relErr(caps.get('pooled')!, g(`pooled_${mode}`));
    if (mode === 'multimodal') {
      for (const [ours, ref] of [
        ['patch_a', 'mm_patch_a'],
        ['patch_v', 'mm_patch_v'],
        ['blocks_a_out', 'mm_blocks_a_out'],
        ['blocks_v_out', 'mm_blocks_v_out'],
        ['blocks_u_out', 'mm_blocks_u_out'],
      ])
        errors[ref] = relErr(caps.get(ours)!, g(ref));
    } else {
      const m = mode === 'audioonly' ? 'a' : 'v';
      errors[`${mode}_blocks_u_out`] = relErr(caps.get(`blocks_u_${m}_out`)!, g(`${mode}_blocks_u_out`));
    }
    logits.dispose();
    torch.dispose([...caps.values()]);
    caps.clear();
  }
  model.debugHook = undefined;
  for (const [k, e] of Object.entries(errors)) t.ok(e <= TOL, `${k}: max rel err ${e.toExponential(2)} <= ${TOL}`);
  t.equal(torch.memory().liveTensors, liveBefore, 'inference leaves no tensors behind');

  // gradients of sum(logits_multimodal * grad_weight)
  model.zeroGrad();
  const objective = torch.tidy(() => model.forward(g('a'), g('v'), 'multimodal').mul(g('grad_weight')).sum());
  t.ok(relErr(objective, g('grad_objective')) <= TOL, 'objective value');
  objective.backward();
  objective.dispose();
  const noGrad = new Set<string>(meta.ft.params_without_grad_in_multimodal);
  t.equal(noGrad.size, 188);
  let worst = 0,
    worstKey = '',
    undefinedOk = 0,
    count = 0;
  for (const [k, p] of model.namedParameters()) {
    const gr = p.grad;
    if (noGrad.has(k)) {
      if (gr === undefined) undefinedOk++;
      else gr.dispose();
      continue;
    }
    if (!gr) {
      t.fail(`${k} has no gradient`);
      continue;
    }
    const e = relErr(gr, grads.get(k)!);
    gr.dispose();
    count++;
    if (e > worst) {
      worst = e;
      worstKey = k;
    }
  }
  t.equal(undefinedOk, 188, 'the 188 unused LayerNorm parameters have an undefined grad, as in PyTorch');
  t.equal(count, 478 - 188);
  t.ok(worst <= GRAD_TOL, `gradients: worst ${worst.toExponential(2)} (${worstKey}) relative to each tensor's max`);
  t.comment(`FT max errors: ${JSON.stringify(errors)}; grad ${worst.toExponential(2)} at ${worstKey}`);
  model.zeroGrad();
  model.dispose();
  for (const m of [io, sd, grads]) disposeMap(m);
});

t.test('missing-modality modes (CAV-MAE) and representations', async (t) => {
  const sd = await loadPt('ft_state_dict.pt');
  const io = await loadPt('ft_io.pt');
  const a = io.get('a')!,
    v = io.get('v')!;
  const model = new SocialMAEFT({ labelDim: 6, ...TINY_ENCODER, compat: 'reference' });
  loadCheckpoint(model, sd);
  const before = torch.memory().liveTensors;
  torch.noGrad(() =>
    torch.tidy(() => {
      const pooledOf = (mode: 'multimodal' | 'audioonly' | 'videoonly' | 'missingaudioonly' | 'missingvideoonly') => model.pooled(a, v, mode);
      // missingaudioonly = (norm(U(A)).mean + norm_a(U_a(A)).mean) / 2, built from the public pieces
      const A = model.audioStream(model.embedAudio(a));
      const manual = model.norm
        .forward(model.unified(A))
        .mean(1)
        .add(model.norm_a.forward(model.unified(A, 'a')).mean(1))
        .div(2);
      t.ok(relErr(pooledOf('missingaudioonly'), manual) === 0, 'missingaudioonly averages the unified and audio-norm paths');
      t.same(model.forward(a, null, 'missingaudioonly').shape, [2, 6], 'video may be null');
      t.same(model.forward(null, v, 'missingvideoonly').shape, [2, 6], 'audio may be null');
      t.ok(relErr(model.forward(null, v, 'videoonly'), io.get('logits_videoonly')!) <= TOL, 'videoonly without audio');
      const e = model.embed(a, v, { tokens: true });
      t.ok(relErr(e.joint!, io.get('pooled_multimodal')!) <= TOL, 'embed().joint is the multimodal head input');
      t.ok(relErr(e.audio!, io.get('pooled_audioonly')!) <= TOL, 'embed().audio is the audioonly head input');
      t.ok(relErr(e.video!, io.get('pooled_videoonly')!) <= TOL, 'embed().video is the videoonly head input');
      t.same(e.audioTokens!.shape, [2, 32, 64]);
      t.same(e.videoTokens!.shape, [2, 16, 64]);
      t.same(e.jointTokens!.shape, [2, 48, 64]);
      const f = model.forwardFeat(a, v);
      t.ok(relErr(f.audio, e.audioTokens!) === 0 && relErr(f.video, e.videoTokens!) === 0, 'forwardFeat = token outputs');
      const onlyA = model.embed(a, null);
      t.same(Object.keys(onlyA), ['audio'], 'audio only: no video, no joint, no tokens');
    }),
  );
  t.equal(torch.memory().liveTensors, before, 'no leaks');
  model.dispose();
  disposeMap(sd);
  disposeMap(io);
});
