"""PyTorch eager peer for the GPU benchmark: the full-size Social-MAE pretraining and finetuning steps.

Our own compact implementation of the reference architecture (CAV-MAE blocks, 3-D video patches,
Gaussian-noise masking, MAE + contrastive loss), with the same parameter shapes as the released
checkpoints. Two variants:
  reference: autocast fp16 + GradScaler, explicit attention (q k^T softmax v), torch.optim.Adam --
             what the reference main_pretrain.py / main_ft.py do on CUDA.
  best:      autocast bf16, F.scaled_dot_product_attention, fused AdamW -- the best eager PyTorch.
Prints one JSON line per measurement. Usage: python3 pytorch_socialmae.py [--steps N] [--out file]
"""
import argparse, json, math, statistics, sys, time
import torch
import torch.nn as nn
import torch.nn.functional as F


class Attention(nn.Module):
    def __init__(self, dim, heads, sdpa):
        super().__init__()
        self.heads, self.sdpa = heads, sdpa
        self.qkv = nn.Linear(dim, dim * 3)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x):
        B, N, C = x.shape
        qkv = self.qkv(x).reshape(B, N, 3, self.heads, C // self.heads).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]
        if self.sdpa:
            x = F.scaled_dot_product_attention(q, k, v)
        else:
            attn = (q @ k.transpose(-2, -1)) * (C // self.heads) ** -0.5
            x = attn.softmax(dim=-1) @ v
        return self.proj(x.transpose(1, 2).reshape(B, N, C))


class Block(nn.Module):
    def __init__(self, dim, heads, sdpa):
        super().__init__()
        self.norm1, self.norm1_a, self.norm1_v = nn.LayerNorm(dim), nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.attn = Attention(dim, heads, sdpa)
        self.norm2, self.norm2_a, self.norm2_v = nn.LayerNorm(dim), nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, 4 * dim), nn.GELU(), nn.Linear(4 * dim, dim))

    def forward(self, x, m=None):
        n1 = {None: self.norm1, 'a': self.norm1_a, 'v': self.norm1_v}[m]
        n2 = {None: self.norm2, 'a': self.norm2_a, 'v': self.norm2_v}[m]
        x = x + self.attn(n1(x))
        return x + self.mlp(n2(x))


class Encoder(nn.Module):
    def __init__(self, sdpa, dim=768, heads=12, depth=11):
        super().__init__()
        self.patch_embed_a = nn.Conv2d(1, dim, 16, 16)
        self.patch_embed_v = nn.Conv3d(3, dim, (16, 16, 2), (16, 16, 2))
        self.modality_a = nn.Parameter(torch.zeros(1, 1, dim))
        self.modality_v = nn.Parameter(torch.zeros(1, 1, dim))
        self.pos_embed_a = nn.Parameter(torch.randn(1, 512, dim) * 0.02)
        self.pos_embed_v = nn.Parameter(torch.randn(1, 784, dim) * 0.02)
        self.blocks_a = nn.ModuleList([Block(dim, heads, sdpa) for _ in range(depth)])
        self.blocks_v = nn.ModuleList([Block(dim, heads, sdpa) for _ in range(depth)])
        self.blocks_u = nn.ModuleList([Block(dim, heads, sdpa) for _ in range(12 - depth)])
        self.norm_a, self.norm_v, self.norm = nn.LayerNorm(dim), nn.LayerNorm(dim), nn.LayerNorm(dim)

    def embed(self, a, v):
        a = self.patch_embed_a(a.unsqueeze(1).transpose(2, 3)).flatten(2).transpose(1, 2)
        v = self.patch_embed_v(v).flatten(2).transpose(1, 2)
        return a + self.pos_embed_a + self.modality_a, v + self.pos_embed_v + self.modality_v


def random_masking(x, ratio):
    B, L, D = x.shape
    keep = int(L * (1 - ratio))
    noise = torch.randn(B, L, device=x.device)
    ids_shuffle = noise.argsort(dim=1)
    ids_restore = ids_shuffle.argsort(dim=1)
    kept = torch.gather(x, 1, ids_shuffle[:, :keep, None].expand(-1, -1, D))
    mask = torch.ones(B, L, device=x.device)
    mask[:, :keep] = 0
    return kept, torch.gather(mask, 1, ids_restore), ids_restore


class SocialMAE(Encoder):
    def __init__(self, sdpa, ddim=512, dheads=16, ddepth=8):
        super().__init__(sdpa)
        self.decoder_embed = nn.Linear(768, ddim)
        self.mask_token = nn.Parameter(torch.zeros(1, 1, ddim))
        self.decoder_modality_a = nn.Parameter(torch.zeros(1, 1, ddim))
        self.decoder_modality_v = nn.Parameter(torch.zeros(1, 1, ddim))
        self.decoder_pos_embed_a = nn.Parameter(torch.randn(1, 512, ddim) * 0.02)
        self.decoder_pos_embed_v = nn.Parameter(torch.randn(1, 784, ddim) * 0.02)
        self.decoder_blocks = nn.ModuleList([Block(ddim, dheads, sdpa) for _ in range(ddepth)])
        self.decoder_norm = nn.LayerNorm(ddim)
        self.decoder_pred_a = nn.Linear(ddim, 256)
        self.decoder_pred_v = nn.Linear(ddim, 1536)

    def unshuffle(self, y, ids_restore, L):
        B, k, D = y.shape
        full = torch.cat([y, self.mask_token.expand(B, L - k, D).to(y.dtype)], dim=1)
        return torch.gather(full, 1, ids_restore[:, :, None].expand(-1, -1, D))

    def forward(self, a, v):
        xa, xv = self.embed(a, v)
        xa, mask_a, ra = random_masking(xa, 0.75)
        xv, mask_v, rv = random_masking(xv, 0.75)
        for b in self.blocks_a: xa = b(xa)
        for b in self.blocks_v: xv = b(xv)
        x = torch.cat([xa, xv], 1)
        ca, cv = xa, xv
        for b in self.blocks_u:
            x, ca, cv = b(x), b(ca, 'a'), b(cv, 'v')
        x, ca, cv = self.norm(x), self.norm_a(ca), self.norm_v(cv)
        y = self.decoder_embed(x)
        ka = xa.shape[1]
        ya = self.unshuffle(y[:, :ka], ra, 512) + self.decoder_pos_embed_a + self.decoder_modality_a
        yv = self.unshuffle(y[:, ka:], rv, 784) + self.decoder_pos_embed_v + self.decoder_modality_v
        y = torch.cat([ya, yv], 1)
        for b in self.decoder_blocks: y = b(y)
        y = self.decoder_norm(y)
        pa, pv = self.decoder_pred_a(y[:, :512]), self.decoder_pred_v(y[:, 512:])
        ta = a.unsqueeze(1).transpose(2, 3).reshape(a.shape[0], 1, 8, 16, 64, 16).permute(0, 2, 4, 3, 5, 1).reshape(a.shape[0], 512, 256)
        tv = v.reshape(v.shape[0], 3, 14, 16, 14, 16, 4, 2).permute(0, 2, 4, 6, 7, 3, 5, 1).reshape(v.shape[0], 784, 1536)
        la = (((pa.float() - ta) ** 2).mean(-1) * mask_a).sum() / mask_a.sum()
        lv = (((pv.float() - tv) ** 2).mean(-1) * mask_v).sum() / mask_v.sum()
        za = F.normalize(ca.mean(1).float(), dim=-1)
        zv = F.normalize(cv.mean(1).float(), dim=-1)
        s = za @ zv.t() / 0.05
        nce = -torch.diag(F.log_softmax(s, dim=0)).mean()
        return la + lv + 0.01 * nce


class SocialMAEFT(Encoder):
    def __init__(self, sdpa, label_dim=6):
        super().__init__(sdpa)
        self.mlp_head = nn.Sequential(nn.LayerNorm(768), nn.Linear(768, label_dim))

    def forward(self, a, v):
        xa, xv = self.embed(a, v)
        for b in self.blocks_a: xa = b(xa)
        for b in self.blocks_v: xv = b(xv)
        x = torch.cat([xa, xv], 1)
        for b in self.blocks_u: x = b(x)
        return self.mlp_head(self.norm(x).mean(1))


def bench(kind, variant, batch, steps, warmup=3):
    torch.manual_seed(0)
    sdpa = variant == 'best'
    model = (SocialMAE(sdpa) if kind == 'pretrain' else SocialMAEFT(sdpa)).cuda().train()
    if variant == 'best':
        opt = torch.optim.AdamW(model.parameters(), lr=1e-4, weight_decay=5e-7, betas=(0.95, 0.999), fused=True)
        dtype, scaler = torch.bfloat16, None
    else:
        opt = torch.optim.Adam(model.parameters(), lr=1e-4, weight_decay=5e-7, betas=(0.95, 0.999))
        dtype, scaler = torch.float16, torch.amp.GradScaler('cuda')
    a = torch.randn(batch, 1024, 128, device='cuda')
    v = torch.randn(batch, 3, 224, 224, 8, device='cuda')
    label = torch.randn(batch, 6, device='cuda')
    times = []
    torch.cuda.reset_peak_memory_stats()
    for i in range(warmup + steps):
        torch.cuda.synchronize()
        t0 = time.perf_counter()
        with torch.autocast('cuda', dtype=dtype):
            out = model(a, v)
            loss = out if kind == 'pretrain' else F.binary_cross_entropy_with_logits(out.float(), label.sigmoid())
        opt.zero_grad(set_to_none=True)
        if scaler:
            scaler.scale(loss).backward(); scaler.step(opt); scaler.update()
        else:
            loss.backward(); opt.step()
        torch.cuda.synchronize()
        if i >= warmup: times.append(time.perf_counter() - t0)
    med = statistics.median(times)
    res = dict(side='pytorch', kind=kind, variant=variant, batch=batch, steps=steps, median_step_s=med,
               samples_per_s=batch / med, peak_mem_bytes=torch.cuda.max_memory_allocated(), loss=float(loss.detach()))
    del model, opt, a, v
    torch.cuda.empty_cache()
    return res


def matmul_ceiling(n=8192, iters=10):
    x = torch.randn(n, n, device='cuda', dtype=torch.bfloat16)
    y = torch.randn(n, n, device='cuda', dtype=torch.bfloat16)
    for _ in range(3): x @ y
    torch.cuda.synchronize(); t0 = time.perf_counter()
    for _ in range(iters): x @ y
    torch.cuda.synchronize()
    return 2 * n ** 3 * iters / (time.perf_counter() - t0) / 1e12


if __name__ == '__main__':
    p = argparse.ArgumentParser()
    p.add_argument('--steps', type=int, default=10)
    p.add_argument('--out', default=None)
    p.add_argument('--pretrain-batches', default='36')
    p.add_argument('--ft-batch', type=int, default=12)
    p.add_argument('--large-batch', type=int, default=0, help='also the best variant at this pretraining batch')
    args = p.parse_args()
    rows = [dict(side='pytorch', kind='ceiling', bf16_matmul_tflops=matmul_ceiling(), device=torch.cuda.get_device_name(),
                 torch=torch.__version__)]
    print(json.dumps(rows[-1]), flush=True)
    for b in [int(x) for x in args.pretrain_batches.split(',')]:
        for variant in ('reference', 'best'):
            rows.append(bench('pretrain', variant, b, args.steps)); print(json.dumps(rows[-1]), flush=True)
    if args.large_batch:
        try:
            rows.append(bench('pretrain', 'best', args.large_batch, args.steps))
        except torch.cuda.OutOfMemoryError:
            rows.append(dict(side='pytorch', kind='pretrain', variant='best', batch=args.large_batch, error='out of memory'))
            torch.cuda.empty_cache()
        print(json.dumps(rows[-1]), flush=True)
    for variant in ('reference', 'best'):
        rows.append(bench('ft', variant, args.ft_batch, args.steps)); print(json.dumps(rows[-1]), flush=True)
    if args.out:
        with open(args.out, 'w') as f: json.dump(rows, f, indent=1)
