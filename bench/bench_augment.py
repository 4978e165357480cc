"""Benchmark lesson 03's batched per-image RandAugment against torchvision's per-image loop.

One run, batch sizes 64 and 448, two image shapes side by side: real MNIST digits
(uint8 (B, 1, 28, 28)) and RGB images (uint8 (B, 3, 32, 32): the same digits tinted in random
colours on random backgrounds, padded to 32x32), on the CPU (with 1 and with all intra-op threads)
and on CUDA when present. For each row: median wall time of
`rand_augment(x, 2, 9, g)` (ours: every image draws its own ops, in a few batched tensor ops) and of
`rand_augment_reference(x, 2, 9, g)` (torchvision v2 RandAugment called once per image), their ratio, and for
comparison `weak_augment` and a BestMNISTCNN forward+backward pass on the same batch (skipped if
`uda_course.best_cnn` is missing; and for RGB images, which it does not take). For RGB images
both pools include the colour-only op `color`: ours draws from 15 ops, torchvision from its 14.

    PYTHONPATH=. .venv/bin/python bench/bench_augment.py [--batches 64 448] [--repeats 15] [--threads 1 2]
        [--shapes 1x28x28 3x32x32] [--save bench/results/augment-cpu.txt]

Not a test: timings depend on the machine and on what else runs on it.
"""
import argparse, os, platform, statistics, sys, time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import torch

from uda_course.augment import rand_augment, rand_augment_reference, weak_augment


def load_batch(n):
    try:
        from uda_course.data import load_mnist
        return load_mnist()[0][:n].clone(), 'MNIST training digits'
    except Exception as e:   # no data: random strokes are enough to time the ops
        print(f"(MNIST not available: {type(e).__name__}; timing on synthetic digits)")
        g = torch.Generator().manual_seed(0)
        x = torch.zeros(n, 1, 28, 28, dtype=torch.uint8)
        x[:, :, 6:22, 10:18] = torch.randint(0, 256, (n, 1, 16, 8), generator=g, dtype=torch.uint8)
        return x, 'synthetic digits'


def rgb_batch(x, size=32):
    "Grey images uint8 (B, 1, 28, 28) -> RGB uint8 (B, 3, size, size), in random colours."
    g = torch.Generator().manual_seed(1)
    pad = (size - x.shape[-1]) // 2
    a = torch.nn.functional.pad(x.float() / 255,
                                [pad, size - x.shape[-1] - pad, pad, size - x.shape[-2] - pad])
    fg, bg = (torch.randint(0, 256, (len(x), 3, 1, 1), generator=g).float() for _ in range(2))
    return (a * fg + (1 - a) * bg).round().to(torch.uint8)


def parse_shape(text):
    c, h, w = (int(v) for v in text.lower().split('x'))
    if c not in (1, 3):
        raise argparse.ArgumentTypeError(f"shape {text!r}: channels must be 1 or 3, e.g. 3x32x32")
    return c, h, w


def time_round_robin(fns, device, repeats):
    """Median seconds of each `fns[name]()`, called in turn (one warm-up each, then round after round, so that a
    change of machine load hits all of them alike). `repeats[name]` runs each; CUDA is synchronised around each."""
    sync = torch.cuda.synchronize if device.type == 'cuda' else (lambda: None)
    times = {k: [] for k in fns}
    for f in fns.values(): f(); sync()
    for r in range(max(repeats.values())):
        for k, f in fns.items():
            if r < repeats[k]:
                sync(); t = time.perf_counter(); f(); sync(); times[k].append(time.perf_counter() - t)
    return {k: statistics.median(v) for k, v in times.items()}


def fwd_bwd(device, batch):
    try:
        from uda_course.best_cnn import BestMNISTCNN
    except Exception:
        return None
    model = BestMNISTCNN().to(device).train()
    own = hasattr(model, 'normalize_input')   # a model that normalises its input takes uint8
    xf = batch if own else (batch.float() / 255 - 0.1307) / 0.3081
    y = torch.randint(10, (len(batch),), device=device)
    def step():
        model.zero_grad(set_to_none=True)
        torch.nn.functional.cross_entropy(model(xf), y).backward()
    return step


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--batches', type=int, nargs='+', default=[64, 448])
    ap.add_argument('--repeats', type=int, default=15)
    ap.add_argument('--threads', type=int, nargs='+', default=None, help='CPU intra-op thread counts (default: 1 and all)')
    ap.add_argument('--shapes', type=parse_shape, nargs='+', default=[(1, 28, 28), (3, 32, 32)],
                    help='image shapes CxHxW (default: 1x28x28 3x32x32)')
    ap.add_argument('--save', default=None, help='also write the printed report to this file')
    ap.add_argument('--no-cuda', action='store_true')
    a = ap.parse_args()
    report = []
    def out(line=''):
        print(line, flush=True); report.append(line)
    all_threads = torch.get_num_threads()
    threads = a.threads or sorted({1, all_threads})
    x_all, what = load_batch(max(a.batches))
    batches = {}
    for c, h, w in a.shapes:   # RGB: tinted digits, padded to h x w (square, >= 28) or resized
        x = rgb_batch(x_all, h if h == w >= 28 else 28) if c == 3 else x_all
        if x.shape[-2:] != (h, w):
            x = torch.nn.functional.interpolate(x.float(), size=(h, w), mode='bilinear')
            x = x.round().clamp(0, 255).to(torch.uint8)
        batches[(c, h, w)] = x.contiguous()
    out(f"torch {torch.__version__}, {platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} CPU cores "
        f"(torch default {all_threads} threads), "
        f"CUDA: {torch.cuda.get_device_name() if torch.cuda.is_available() else 'none'}")
    load = ', '.join(f'{v:.1f}' for v in os.getloadavg()) if hasattr(os, 'getloadavg') else 'n/a'
    out(f"batch: {what}, uint8 (B, 1, 28, 28), and tinted in RGB (B, 3, H, W); "
        f"RandAugment N=2, M=9; "
        f"medians of up to {a.repeats} runs; load average before the run: {load}")
    out()
    configs = [(torch.device('cpu'), t) for t in threads]
    if torch.cuda.is_available() and not a.no_cuda: configs.append((torch.device('cuda'), None))
    head = (f"{'device':>8} {'thr':>3} {'shape':>8} {'batch':>5} | {'ours ms':>8} "
            f"{'torchvision ms':>14} {'ratio':>6} | {'weak ms':>7} {'BestCNN f+b ms':>14} "
            f"{'ours/f+b':>8}")
    out(head); out('-' * len(head))
    for device, t in configs:
        if t is not None: torch.set_num_threads(t)
        for shape, x_s in batches.items():
          for B in a.batches:
            x = x_s[:B].to(device)
            g = torch.Generator().manual_seed(0)
            fns = {'ours': lambda: rand_augment(x, 2, 9, g), 'ref': lambda: rand_augment_reference(x, 2, 9, g),
                   'weak': lambda: weak_augment(x, g)}
            step = fwd_bwd(device, x) if shape == (1, 28, 28) else None   # 1x28x28 only
            if step: fns['fb'] = step
            slow = device.type == 'cpu' and B > 64     # the per-image loop and the CPU network step take long
            reps = {'ours': a.repeats, 'weak': a.repeats, 'ref': max(3, a.repeats // 3) if slow else a.repeats,
                    'fb': max(3, a.repeats // 3)}
            m = time_round_robin(fns, device, reps)
            fb = m.get('fb')
            fb_s = (f"{fb * 1e3:14.2f} {m['ours'] / fb:8.2f}" if fb else
                    f"{'(no best_cnn)' if shape == (1, 28, 28) else '-':>14} {'-':>8}")
            sh = 'x'.join(map(str, shape))
            out(f"{device.type:>8} {t if t else '-':>3} {sh:>8} {B:5d} | {m['ours'] * 1e3:8.2f} "
                f"{m['ref'] * 1e3:14.2f} {m['ref'] / m['ours']:5.1f}x | "
                f"{m['weak'] * 1e3:7.2f} {fb_s}")
    torch.set_num_threads(all_threads)
    if a.save:
        Path(a.save).parent.mkdir(parents=True, exist_ok=True)
        Path(a.save).write_text('\n'.join(report) + '\n')


if __name__ == '__main__':
    main()
