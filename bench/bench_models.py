"""Cost of one training step per network and option, side by side in one run.

For each network of the kit (SimpleCNN, BestMNISTCNN, LeanCNN; lessons 02 and 05), with and without
the `channels_last` memory layout, with and without `torch.compile`, and (with `--amp`) with and
without bf16 autocast (`TrainConfig.amp`, lesson 02): the median time of one forward + backward +
SGD step on a batch of 160 MNIST-sized uint8 images (the UDA step's 32 labeled + 64 clean + 64
strong images; the networks normalise their own input), and of a no-grad forward over 1,000 images
(one validation). Rows are timed in round robin, so that a change of load hits every row alike;
the ratio column is each row's step time against BestMNISTCNN's default.

    PYTHONPATH=. .venv/bin/python bench/bench_models.py [--threads 1] [--repeats 15] [--no_compile]
        [--device cuda] [--amp] [--models best,lean]

Not a test: timings depend on the machine and on what else runs on it.
"""
import argparse, os, platform, statistics, sys, time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import torch
import torch.nn.functional as F

from uda_course.experiment import MODEL_CLASSES
from uda_course.train import cpu_bf16_instructions


def make(name, channels_last, compiled, amp, device):
    torch.manual_seed(0)
    m = MODEL_CLASSES[name]().to(device)
    m = m.to(memory_format=torch.channels_last if channels_last else torch.contiguous_format)
    opt = torch.optim.SGD(m.parameters(), lr=0.01, momentum=0.9, nesterov=True)
    return (torch.compile(m) if compiled else m), opt


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--threads', type=int, default=1)
    ap.add_argument('--repeats', type=int, default=15)
    ap.add_argument('--no_compile', action='store_true',
                    help='skip the torch.compile rows (about 30 s of compiling each)')
    ap.add_argument('--device', default='cpu', help='cpu | cuda | cuda:N')
    ap.add_argument('--amp', action='store_true',
                    help='add bf16 autocast rows (slow on CPUs without bf16 instructions)')
    ap.add_argument('--models', default=','.join(MODEL_CLASSES),
                    help='comma-separated networks to time (default: all)')
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    dev = torch.device(a.device)
    # CUDA kernels run asynchronously
    sync = torch.cuda.synchronize if dev.type == 'cuda' else (lambda: None)
    image = lambda n: torch.randint(0, 256, (n, 1, 28, 28), dtype=torch.uint8, device=dev)
    x, y, xv = image(160), torch.randint(10, (160,), device=dev), image(1000)
    names = a.models.split(',')
    if unknown := set(names) - set(MODEL_CLASSES):
        ap.error(f"unknown network(s) {sorted(unknown)}; choose from {', '.join(MODEL_CLASSES)}")
    if 'best' not in names:
        ap.error('the ratio column is against BestMNISTCNN: keep best in --models')
    rows = [(n, cl, c, amp) for n in names for cl in (False, True)
            for c in ((False, True) if not a.no_compile else (False,))
            for amp in ((False, True) if a.amp else (False,))]
    nets = {r: make(*r, dev) for r in rows}
    def step(r):
        m, opt = nets[r]; m.train()
        with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=r[3]):
            loss = F.cross_entropy(m(x), y)
        opt.zero_grad(set_to_none=True); loss.backward(); opt.step()
    def evaluate(r):
        m, _ = nets[r]; m.eval()
        with torch.no_grad(): m(xv)
    for r in rows: step(r); step(r); evaluate(r)     # warm-up (and compilation)
    times = {r: ([], []) for r in rows}
    for _ in range(a.repeats):
        for r in rows:
            sync(); t = time.perf_counter(); step(r); sync(); t1 = time.perf_counter()
            evaluate(r); sync(); t2 = time.perf_counter()
            times[r][0].append(t1 - t); times[r][1].append(t2 - t1)
    med = {r: (statistics.median(s), statistics.median(e)) for r, (s, e) in times.items()}
    ref = med[('best', False, False, False)][0]
    bf16 = ', '.join(cpu_bf16_instructions()) or 'none'
    where = (torch.cuda.get_device_name(dev) if dev.type == 'cuda' else
             f"{os.cpu_count()} CPU cores (bf16 instructions: {bf16}), {a.threads} thread(s)")
    load = ', '.join(f'{v:.1f}' for v in os.getloadavg())
    print(f"torch {torch.__version__}, {platform.machine()}, {where}; "
          f"medians of {a.repeats} round-robin repeats; load average before: {load}")
    print(f"{'network':>8} {'layout':>13} {'compile':>7} {'amp':>4} | {'step ms':>8} "
          f"{'steps/s':>7} {'vs best':>7} | {'eval 1000 ms':>12} {'params':>9}")
    print('-' * 91)
    for r in rows:
        n, cl, c, amp = r; s, e = med[r]
        params = sum(p.numel() for p in MODEL_CLASSES[n]().parameters())
        layout = 'channels_last' if cl else 'contiguous'
        print(f"{n:>8} {layout:>13} {'yes' if c else 'no':>7} "
              f"{'bf16' if amp else 'no':>4} | {1000 * s:>8.1f} {1 / s:>7.2f} {ref / s:>6.2f}x | "
              f"{1000 * e:>12.1f} {params:>9,}")


if __name__ == '__main__':
    main()
