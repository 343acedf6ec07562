/**
 * GPU benchmark, our side: full-size Social-MAE pretraining step (batch 36 and larger) and FT step
 * (batch 12) on CUDA with bf16 autocast, LibTorch's fused SDPA and fused AdamW. Same protocol as
 * bench/gpu/pytorch_socialmae.py: warm-up steps, then the median of timed steps, peak memory from the
 * caching allocator. Prints one JSON line per measurement; `--out file` writes them all.
 *   node dist/bench/gpu/ours.js [--steps N] [--pretrain-batches 36,128] [--ft-batch 12] [--out file]
 * `--device cpu --tiny` is a smoke mode (small model, fp32, unfused) to check the script without a GPU.
 */
import * as fs from 'fs';
import { torch, F, optim, SocialMAE, SocialMAEFT } from '../../lib';

function arg(name: string, dflt: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : dflt;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

interface Row {
  [k: string]: unknown;
}

const DEVICE = arg('device', 'cuda');
const GPU = DEVICE !== 'cpu';
const TINY = process.argv.includes('--tiny') ? { embedDim: 64, numHeads: 4, modalitySpecificDepth: 1, unifiedDepth: 1 } : {};
const TINY_DECODER = process.argv.includes('--tiny') ? { decoderEmbedDim: 32, decoderDepth: 1, decoderNumHeads: 4 } : {};
const sync = () => (GPU ? torch.cuda.synchronize() : undefined);

function bench(kind: 'pretrain' | 'ft', batch: number, steps: number, warmup = 3): Row {
  torch.manualSeed(0);
  const liveBefore = torch.memory().liveTensors;
  const model = kind === 'pretrain' ? new SocialMAE({ ...TINY, ...TINY_DECODER }) : new SocialMAEFT({ ...TINY, labelDim: 6 });
  model.to(DEVICE).train();
  const opt = new optim.AdamW(model.parameters(), { lr: 1e-4, betas: [0.95, 0.999], weightDecay: 5e-7, fused: GPU });
  const a = torch.keep(torch.randn([batch, 1024, 128], { device: DEVICE }));
  const v = torch.keep(torch.randn([batch, 3, 224, 224, 8], { device: DEVICE }));
  const label = torch.keep(torch.tidy(() => torch.randn([batch, 6], { device: DEVICE }).sigmoid()));
  const times: number[] = [];
  let lossValue = NaN;
  if (GPU) torch.cuda.resetPeakMemoryStats();
  for (let i = 0; i < warmup + steps; i++) {
    sync();
    const t0 = process.hrtime.bigint();
    const loss = torch.tidy(() => {
      const l = torch.autocast(
        () => {
          if (model instanceof SocialMAE) return model.forward(a, v).loss;
          return F.binaryCrossEntropyWithLogits((model as SocialMAEFT).forward(a, v).float(), label);
        },
        { enabled: GPU },
      );
      opt.zeroGrad();
      l.backward();
      opt.step();
      return l;
    });
    sync();
    if (i >= warmup) times.push(Number(process.hrtime.bigint() - t0) / 1e9);
    if (i === warmup + steps - 1) lossValue = loss.item();
    loss.dispose();
  }
  const med = median(times);
  const peak = GPU ? torch.cuda.memoryStats().peakAllocatedBytes : null;
  const row: Row = {
    side: 'ours',
    kind,
    variant: GPU ? 'bf16+sdpa+fusedAdamW' : 'fp32',
    batch,
    steps,
    median_step_s: med,
    samples_per_s: batch / med,
    peak_mem_bytes: peak,
    loss: lossValue,
  };
  for (const t of [a, v, label]) t.dispose();
  opt.dispose();
  model.dispose();
  row.leaked_tensors = torch.memory().liveTensors - liveBefore;
  if (GPU) torch.cuda.emptyCache();
  return row;
}

function main(): void {
  const steps = Number(arg('steps', '8'));
  const rows: Row[] = [{ side: 'ours', kind: 'info', torch: torch.version(), cuda: torch.cuda.isAvailable(), device: DEVICE }];
  console.log(JSON.stringify(rows[0]));
  for (const b of arg('pretrain-batches', '36').split(',').map(Number)) {
    rows.push(bench('pretrain', b, steps));
    console.log(JSON.stringify(rows[rows.length - 1]));
  }
  rows.push(bench('ft', Number(arg('ft-batch', '12')), steps));
  console.log(JSON.stringify(rows[rows.length - 1]));
  const out = arg('out', '');
  if (out) fs.writeFileSync(out, JSON.stringify(rows, null, 1));
}

main();
