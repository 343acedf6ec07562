"""PyTorch peer of bench/model_cpu.ts: the Social-MAE architecture written directly in PyTorch.

    /usr/bin/python3 bench/py/model_cpu.py --check                 # parity with test/fixtures
    /usr/bin/python3 bench/py/model_cpu.py --case ft_full_fwd --threads 2 --reps 5

Prints one JSON object: {"case", "times_s": [...], "median_s", "max_rss_mb", "threads", "torch"}.
The model follows the reference's semantics in its compat form (same ops, token orders and losses), so
that both sides of the benchmark compute the same thing; --check proves it on the fixtures.
"""
import argparse
import json
import math
import os
import resource
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
FIXTURES = os.path.join(HERE, '..', '..', 'test', 'fixtures')


class Attention(nn.Module):
    def __init__(self, dim, heads):
        super().__init__()
        self.heads = heads
        self.scale = (dim // heads) ** -0.5
        self.qkv = nn.Linear(dim, dim * 3)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x):
        b, n, c = x.shape
        q, k, v = self.qkv(x).reshape(b, n, 3, self.heads, c // self.heads).permute(2, 0, 3, 1, 4).unbind(0)
        attn = (q @ k.transpose(-2, -1) * self.scale).softmax(dim=-1)
        return self.proj((attn @ v).transpose(1, 2).reshape(b, n, c))


class Mlp(nn.Module):
    def __init__(self, dim, hidden):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x):
        return self.fc2(F.gelu(self.fc1(x)))


class Block(nn.Module):
    def __init__(self, dim, heads, mlp_ratio=4.0):
        super().__init__()
        self.norm1, self.norm1_a, self.norm1_v = nn.LayerNorm(dim), nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.attn = Attention(dim, heads)
        self.norm2, self.norm2_a, self.norm2_v = nn.LayerNorm(dim), nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))

    def forward(self, x, modality=None):
        n1, n2 = {None: (self.norm1, self.norm2), 'a': (self.norm1_a, self.norm2_a), 'v': (self.norm1_v, self.norm2_v)}[modality]
        x = x + self.attn(n1(x))
        return x + self.mlp(n2(x))


class ConvEmbed(nn.Module):
    def __init__(self, conv):
        super().__init__()
        self.proj = conv

    def forward(self, x):
        return self.proj(x).flatten(2).transpose(1, 2)


class Encoder(nn.Module):
    def __init__(self, img=224, audio_length=1024, p=16, chans=3, dim=768, depth=11, heads=12, mlp_ratio=4.0,
                 n_frame=8, stride=2):
        super().__init__()
        self.p, self.s = p, stride
        self.la = (128 // p) * (audio_length // p)
        self.lv = (img // p) ** 2 * (n_frame // stride)
        self.patch_embed_a = ConvEmbed(nn.Conv2d(1, dim, p, p))
        self.patch_embed_v = ConvEmbed(nn.Conv3d(chans, dim, (p, p, stride), (p, p, stride)))
        self.modality_a = nn.Parameter(torch.zeros(1, 1, dim))
        self.modality_v = nn.Parameter(torch.zeros(1, 1, dim))
        self.pos_embed_a = nn.Parameter(torch.zeros(1, self.la, dim))
        self.pos_embed_v = nn.Parameter(torch.zeros(1, self.lv, dim))
        self.blocks_a = nn.ModuleList([Block(dim, heads, mlp_ratio) for _ in range(depth)])
        self.blocks_v = nn.ModuleList([Block(dim, heads, mlp_ratio) for _ in range(depth)])
        self.blocks_u = nn.ModuleList([Block(dim, heads, mlp_ratio) for _ in range(12 - depth)])
        self.norm_a, self.norm_v, self.norm = nn.LayerNorm(dim), nn.LayerNorm(dim), nn.LayerNorm(dim)

    def embed(self, a, v):
        a = self.patch_embed_a(a.unsqueeze(1).transpose(2, 3)) + self.pos_embed_a + self.modality_a
        v = self.patch_embed_v(v) + self.pos_embed_v + self.modality_v
        return a, v

    @staticmethod
    def run(blocks, x, modality=None):
        for blk in blocks:
            x = blk(x, modality)
        return x


class FT(Encoder):
    def __init__(self, label_dim, **kw):
        super().__init__(**kw)
        dim = self.norm.normalized_shape[0]
        self.mlp_head = nn.Sequential(nn.LayerNorm(dim), nn.Linear(dim, label_dim))

    def forward(self, a, v, mode='multimodal'):
        if mode == 'multimodal':
            a, v = self.embed(a, v)
            x = torch.cat((self.run(self.blocks_a, a), self.run(self.blocks_v, v)), dim=1)
            x = self.norm(self.run(self.blocks_u, x))
        elif mode == 'audioonly':
            a, _ = self.embed(a, v)
            x = self.norm_a(self.run(self.blocks_u, self.run(self.blocks_a, a), 'a'))
        else:
            _, v = self.embed(a, v)
            x = self.norm_v(self.run(self.blocks_u, self.run(self.blocks_v, v), 'v'))
        return self.mlp_head(x.mean(dim=1))


class Pretrain(Encoder):
    def __init__(self, ddim=512, ddepth=8, dheads=16, **kw):
        super().__init__(**kw)
        dim = self.norm.normalized_shape[0]
        self.decoder_embed = nn.Linear(dim, ddim)
        self.mask_token = nn.Parameter(torch.zeros(1, 1, ddim))
        self.decoder_modality_a = nn.Parameter(torch.zeros(1, 1, ddim))
        self.decoder_modality_v = nn.Parameter(torch.zeros(1, 1, ddim))
        self.decoder_pos_embed_a = nn.Parameter(torch.zeros(1, self.la, ddim))
        self.decoder_pos_embed_v = nn.Parameter(torch.zeros(1, self.lv, ddim))
        self.decoder_blocks = nn.ModuleList([Block(ddim, dheads) for _ in range(ddepth)])
        self.decoder_norm = nn.LayerNorm(ddim)
        self.decoder_pred_a = nn.Linear(ddim, self.p ** 2)
        self.decoder_pred_v = nn.Linear(ddim, self.p ** 2 * self.s * 3)

    @staticmethod
    def mask(x, ratio, noise):
        n, l, d = x.shape
        keep = int(l * (1 - ratio))
        shuffle = torch.argsort(noise, dim=1)
        restore = torch.argsort(shuffle, dim=1)
        kept = torch.gather(x, 1, shuffle[:, :keep].unsqueeze(-1).expand(n, keep, d))
        return kept, (restore >= keep).float(), restore

    def targets(self, audio, imgs):
        b, p, s = audio.shape[0], self.p, self.s
        a = audio.transpose(1, 2).reshape(b, 128 // p, p, audio.shape[1] // p, p).permute(0, 1, 3, 2, 4).reshape(b, self.la, p * p)
        _, c, h, w, t = imgs.shape
        v = imgs.reshape(b, c, h // p, p, w // p, p, t // s, s).permute(0, 6, 2, 4, 7, 3, 5, 1).reshape(b, self.lv, -1)
        return a, v

    def forward(self, audio, imgs, ra=0.75, rv=0.75, noise_a=None, noise_v=None, mae_w=1.0, c_w=0.01):
        a, v = self.embed(audio, imgs)
        b = a.shape[0]
        noise_a = torch.randn(b, self.la) if noise_a is None else noise_a
        noise_v = torch.randn(b, self.lv) if noise_v is None else noise_v
        a, mask_a, ra_ = self.mask(a, ra, noise_a)
        v, mask_v, rv_ = self.mask(v, rv, noise_v)
        a, v = self.run(self.blocks_a, a), self.run(self.blocks_v, v)
        x = self.norm(self.run(self.blocks_u, torch.cat((a, v), dim=1)))
        ca = self.norm_a(self.blocks_u[-1](a, 'a'))
        cv = self.norm_v(self.blocks_u[-1](v, 'v'))
        # decoder
        y = self.decoder_embed(x)
        ka, na, nv, dd = a.shape[1], self.la - a.shape[1], self.lv - v.shape[1], y.shape[2]
        ya = torch.cat([y[:, :ka], self.mask_token.expand(b, na, dd)], 1).gather(1, ra_.unsqueeze(-1).expand(b, self.la, dd))
        yv = torch.cat([y[:, ka:], self.mask_token.expand(b, nv, dd)], 1).gather(1, rv_.unsqueeze(-1).expand(b, self.lv, dd))
        h = torch.cat([ya, yv], 1) + torch.cat([self.decoder_pos_embed_a, self.decoder_pos_embed_v], 1)
        h = torch.cat([h[:, :self.la] + self.decoder_modality_a, h[:, self.la:] + self.decoder_modality_v], 1)
        h = self.decoder_norm(self.run(self.decoder_blocks, h))
        pred_a, pred_v = self.decoder_pred_a(h[:, :self.la]), self.decoder_pred_v(h[:, self.la:])
        ta, tv = self.targets(audio, imgs)
        la = ((pred_a - ta) ** 2).mean(-1).mul(mask_a).sum() / mask_a.sum()
        lv = ((pred_v - tv) ** 2).mean(-1).mul(mask_v).sum() / mask_v.sum()
        an, vn = F.normalize(ca.mean(1), dim=-1), F.normalize(cv.mean(1), dim=-1)
        sim = torch.mm(an, vn.t()) / 0.05
        nce = -torch.diagonal(F.log_softmax(sim, dim=0)).mean()
        c_acc = (sim.softmax(0).argmax(0) == torch.arange(b)).sum() / b
        loss_mae = mae_w * (la + lv)
        loss_c = c_w * nce
        return loss_mae + loss_c, loss_mae, la, lv, loss_c, c_acc


TINY = dict(img=32, audio_length=64, dim=64, heads=4, n_frame=8, stride=2)
FULL = dict()


def load(name):
    sd = torch.load(os.path.join(FIXTURES, name))
    return {k[7:] if k.startswith('module.') else k: v for k, v in sd.items()}


def check():
    """Parity of this PyTorch model with the reference fixtures (max relative errors)."""
    out = {}
    ft = FT(6, **TINY)
    ft.load_state_dict(load('ft_state_dict.pt'))
    io = torch.load(os.path.join(FIXTURES, 'ft_io.pt'))
    with torch.no_grad():
        for mode in ['multimodal', 'audioonly', 'videoonly']:
            ref = io['logits_' + mode]
            out['ft_' + mode] = float((ft(io['a'], io['v'], mode) - ref).abs().max() / ref.abs().max())
    pt = Pretrain(ddim=32, ddepth=2, dheads=4, **TINY)
    pt.load_state_dict(load('pretrain_state_dict.pt'))
    io = torch.load(os.path.join(FIXTURES, 'pretrain_io.pt'))
    with torch.no_grad():
        res = pt(io['audio'], io['imgs'], noise_a=io['noise_a'], noise_v=io['noise_v'])
    for name, val in zip(['loss', 'loss_mae', 'loss_mae_a', 'loss_mae_v', 'loss_c', 'c_acc'], res):
        out['pt_' + name] = float((val - io[name]).abs() / io[name].abs())
    return out


def make_case(case):
    if case == 'ft_tiny_fwdbwd':
        m, b, cfg = FT(6, **TINY), 8, TINY
    elif case in ('ft_full_fwd', 'ft_full_fwdbwd'):
        m, b, cfg = FT(6), 1, dict(img=224, audio_length=1024, n_frame=8)
    elif case == 'pretrain_full_fwdbwd':
        m, b, cfg = Pretrain(), 2, dict(img=224, audio_length=1024, n_frame=8)
    else:
        raise SystemExit(f'unknown case {case}')
    a = torch.randn(b, cfg['audio_length'], 128)
    v = torch.randn(b, 3, cfg['img'], cfg['img'], cfg['n_frame'])
    if case == 'ft_full_fwd':
        def step():
            with torch.no_grad():
                m(a, v)
    elif case.startswith('ft'):
        def step():
            m.zero_grad(set_to_none=True)
            m(a, v).sum().backward()
    else:
        def step():
            m.zero_grad(set_to_none=True)
            m(a, v)[0].backward()
    return step


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--check', action='store_true')
    ap.add_argument('--case')
    ap.add_argument('--threads', type=int, default=2)
    ap.add_argument('--reps', type=int, default=5)
    ap.add_argument('--warmup', type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    if args.check:
        print(json.dumps(check()))
        return
    step = make_case(args.case)
    for _ in range(args.warmup):
        step()
    times, cpu = [], []
    for _ in range(args.reps):
        t0, c0 = time.perf_counter(), time.process_time()
        step()
        times.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    med = lambda xs: sorted(xs)[len(xs) // 2]
    print(json.dumps({'case': args.case, 'times_s': times, 'median_s': med(times), 'cpu_s': cpu, 'median_cpu_s': med(cpu),
                      'max_rss_mb': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                      'threads': torch.get_num_threads(), 'torch': torch.__version__}))


if __name__ == '__main__':
    main()
