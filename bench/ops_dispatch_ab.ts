/**
 * A/B of the JS + native dispatch path between two builds of this package, loaded in ONE process with
 * their rounds interleaved (so that background load hits both alike).
 *
 *   node dist/bench/ops_dispatch_ab.js OLD_ROOT NEW_ROOT [rounds] [threads]
 *
 * Cases: tiny ops (the per-call path) and BLAS-bound kernels (matmul 256² and 512², a Linear layer on
 * [64, 768]) at `threads` intra-op/OpenBLAS threads (default 1).
 * Each ROOT is a checkout with `dist/` (tsc output) and `build/Release/social_mae.node` built. For the
 * figures in bench/RESULTS.md OLD_ROOT was the first native-core commit (e92a807), made with
 * `git archive e92a807 | tar -x -C OLD_ROOT`, `ln -s $PWD/node_modules OLD_ROOT/`, then in OLD_ROOT
 * `node scripts/build-native.js && npx tsc -p tsconfig.json`.
 */
import * as path from 'path';

type Variant = Record<string, (n: number) => void>;

/** Calls per round: tiny ops many, BLAS-bound kernels few. */
const CALLS: Record<string, number> = { matmul_256: 200, matmul_512: 40, linear_64x768: 400 };

function variants(root: string, threads: number): Variant {
  process.env.SOCIAL_MAE_ADDON = path.join(root, 'build', 'Release', 'social_mae.node');
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { torch, F } = require(path.join(root, 'dist', 'lib', 'tensor', 'index.js'));
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { native: N } = require(path.join(root, 'dist', 'lib', 'native', 'binding.js'));
  torch.setNumThreads(threads);
  const a = torch.keep(torch.randn([4])),
    b = torch.keep(torch.randn([4])),
    s = torch.keep(torch.randn([4, 64])),
    m256 = torch.keep(torch.randn([256, 256])),
    m512 = torch.keep(torch.randn([512, 512])),
    x = torch.keep(torch.randn([64, 768])),
    w = torch.keep(torch.randn([768, 768])),
    bias = torch.keep(torch.randn([768]));
  return {
    raw_add_dispose: (n) => {
      const x = a.id,
        y = b.id;
      for (let i = 0; i < n; i++) N.dispose(N.add(x, y, 1));
    },
    add_dispose_outside_tidy: (n) => {
      for (let i = 0; i < n; i++) a.add(b).dispose();
    },
    add_tidy_batch: (n) => {
      for (let d = 0; d < n; d += 1000)
        torch.tidy(() => {
          for (let i = 0; i < 1000; i++) a.add(b);
        });
    },
    softmax_dispose: (n) => {
      for (let i = 0; i < n; i++) s.softmax(-1).dispose();
    },
    matmul_256: (n) => {
      for (let i = 0; i < n; i++) m256.matmul(m256).dispose();
    },
    matmul_512: (n) => {
      for (let i = 0; i < n; i++) m512.matmul(m512).dispose();
    },
    linear_64x768: (n) => {
      for (let i = 0; i < n; i++) F.linear(x, w, bias).dispose();
    },
  };
}

function main(): void {
  const [oldRoot, newRoot, r, th] = process.argv.slice(2);
  if (!oldRoot || !newRoot) throw new Error('usage: node dist/bench/ops_dispatch_ab.js OLD_ROOT NEW_ROOT [rounds] [threads]');
  const threads = Number(th ?? 1);
  const old = variants(path.resolve(oldRoot), threads);
  const neu = variants(path.resolve(newRoot), threads);
  const calls = (k: string) => CALLS[k] ?? 20000,
    rounds = Number(r ?? 31);
  const res: Record<string, number[]> = {};
  for (const k of Object.keys(old)) {
    old[k](calls(k));
    neu[k](calls(k));
    res[`old ${k}`] = [];
    res[`new ${k}`] = [];
  }
  for (let i = 0; i < rounds; i++) {
    for (const k of Object.keys(old)) {
      for (const [tag, v] of [
        ['old', old],
        ['new', neu],
      ] as const) {
        const t0 = process.hrtime.bigint();
        v[k](calls(k));
        res[`${tag} ${k}`].push(Number(process.hrtime.bigint() - t0) / calls(k) / 1000);
      }
    }
  }
  const stat = (xs: number[]) => {
    const s = [...xs].sort((p, q) => p - q);
    return { min: s[0], median: s[s.length >> 1] };
  };
  for (const k of Object.keys(old)) {
    const o = stat(res[`old ${k}`]),
      m = stat(res[`new ${k}`]);
    process.stdout.write(
      `${k.padEnd(26)} old min ${o.min.toFixed(3)} med ${o.median.toFixed(3)} µs | new min ${m.min.toFixed(3)} ` +
        `med ${m.median.toFixed(3)} µs | new/old median ${(m.median / o.median).toFixed(3)}\n`,
    );
  }
}

main();
