"""Reference-recipe data loader in Python (OpenCV + torchaudio + torchvision), for bench/data_loader.ts.

Reproduces MyDataset.__getitem__ / wav2fbank of HuBohy/SocialMAE: torchaudio.load, mean subtraction,
kaldi fbank (128 bins, hanning, htk_compat), pad/trim to 1024, normalisation; cv2.VideoCapture decoding
in order up to the last kept frame, ToTensor + Resize((224, 224)) + Normalize(ImageNet) on BGR frames;
batches stacked with torch.stack. Single process, like iterating the Dataset without DataLoader workers.

usage: python3 data_loader.py manifest.csv batch_size epochs  -> prints JSON {clips_per_s, ...}
(pictures_per_clip: pictures cv2 decoded per clip, each converted to BGR: every one up to the last kept frame, and one more)
"""
import csv, json, os, random, sys, time
import cv2, numpy as np, torch, torchaudio
import torchvision.transforms as T

TRANSFORM = T.Compose([T.ToTensor(), T.Resize((224, 224)), T.Normalize(mean=[0.485, 0.456, 0.406], std=[0.229, 0.224, 0.225])])


def wav2fbank(path):
    waveform, sr = torchaudio.load(path)
    waveform = waveform - waveform.mean()
    fbank = torchaudio.compliance.kaldi.fbank(waveform, htk_compat=True, sample_frequency=sr, use_energy=False,
                                              window_type='hanning', num_mel_bins=128, dither=0.0, frame_shift=10)
    p = 1024 - fbank.shape[0]
    if p > 0:
        fbank = torch.nn.ZeroPad2d((0, 0, 0, p))(fbank)
    elif p < 0:
        fbank = fbank[0:1024, :]
    return (fbank - (-6.2943)) / 12.26344


PICTURES = [0]


def video_frames(path):
    cap = cv2.VideoCapture(path)
    fps = cap.get(cv2.CAP_PROP_FPS)
    length = cap.get(cv2.CAP_PROP_FRAME_COUNT)
    interval = int(fps // 2)
    n_keep = 4 * fps
    if length < n_keep:
        start, n_keep = 0, length
    else:
        start = random.randint(0, int(length - n_keep))
    keep = np.arange(start, start + n_keep, interval)[:8]
    last = keep[-1]
    frames, i = [], 0
    while True:
        ok, frame = cap.read()
        PICTURES[0] += ok
        if not ok or i > last:
            break
        if i in keep:
            frames.append(TRANSFORM(frame))
        i += 1
    cap.release()
    v = torch.stack(frames, dim=-1)
    if length < 4 * fps:
        reps = (8 + v.shape[-1] - 1) // v.shape[-1]
        v = v.repeat(1, 1, 1, reps)[..., :8]
    return v


def main():
    manifest, bs, epochs = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    base = os.path.dirname(os.path.abspath(manifest))
    rows = list(csv.DictReader(open(manifest)))
    random.seed(0)
    times, cpu, pictures = [], [], []
    for _ in range(epochs):
        PICTURES[0] = 0
        t0 = time.time()
        c0 = time.process_time()
        batch_a, batch_v, n = [], [], 0
        for r in rows:
            v = os.path.join(base, r['video'])
            a = os.path.join(base, r['audio']) if r.get('audio') else v
            batch_a.append(wav2fbank(a))
            batch_v.append(video_frames(v))
            if len(batch_a) == bs:
                torch.stack(batch_a), torch.stack(batch_v)
                n += bs
                batch_a, batch_v = [], []
        times.append(time.time() - t0)
        cpu.append(time.process_time() - c0)
        pictures.append(PICTURES[0] / len(rows))
    print(json.dumps({'clips': len(rows), 'epoch_s': times, 'clips_per_s': [len(rows) / t for t in times],
                      'cpu_s_per_clip': [c / len(rows) for c in cpu], 'pictures_per_clip': pictures,
                      'torch_threads': torch.get_num_threads()}))


if __name__ == '__main__':
    main()
