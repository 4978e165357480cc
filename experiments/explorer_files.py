"""The small files behind the explorers of lessons 03 and 04, from one full-length run of lesson 04's training cell
(SimpleCNN, UDA, 1,200 steps, lr 0.03, labeled batch 32, mu 2, T 0.4, beta 0.8, split and seed 0).

usage: OMP_NUM_THREADS=1 PYTHONPATH=. .venv/bin/python experiments/explorer_files.py [--out results/explorers]

Writes:
- OUT/uda_logits.pt (lesson 04): `pool_conf` float32 (2000,), the trained model's confidence (largest softmax
  probability) on the first 2,000 unlabeled images; `index` int64 (16,), 16 of them whose confidences are closest to
  16 levels evenly spaced from 0.35 to 1, in decreasing confidence; their images `x` uint8 (16, 1, 28, 28), hidden
  labels `y_hidden` int64 (16,), one augmented view `x_aug` uint8 (16, 1, 28, 28) (rand_augment with the run's N, M,
  sample_magnitude and cutout, generator seed 0), the model's logits `z_clean` and `z_aug` float32 (16, 10); and
  `steps`, `test_acc`, `config` (the TrainConfig as a dict);
- OUT/augment_predictions.npz (lesson 03): what the same model predicts for every view lesson 03's explorer can
  draw from its 16 digits, the first 16 unlabeled images (`data.x_unlabeled[:16]`): `pred` uint8 and `conf` uint8 (percent, the largest softmax probability), both of shape
  (op, magnitude, N, seed, sample_magnitude, 16) over `ops` ('(whole pool)' then every op of RANDAUG_OPS),
  `magnitudes` (0, 1, ..., 10), `n_ops` (0..4), `seeds` (0..4) and sample_magnitude (False, True); `crc` uint32
  (op, magnitude, N, sample_magnitude), the zlib.crc32 of the uint8 bytes of the augmented batch at seed 0 (so a
  test can check that the keys give the views the lesson draws); `x` and `y_hidden` as above;
- OUT/augment_explorer.png and OUT/uda_targets_explorer.png: the first view of each explorer, as the lessons draw it.
The trained weights are kept in runs/explorers/simple-uda.pt (not committed); a second call reuses them.
"""
import time, zlib
import matplotlib; matplotlib.use('Agg')
from dataclasses import asdict
from pathlib import Path
import numpy as np
import torch
from fastcore.script import call_parse, Param
from uda_course.core import TrainConfig
from uda_course.data import load_ssl_data
from uda_course.train import SimpleCNN, fit, predict, accuracy
from uda_course.uda import uda_step, targets_explorer_figure
from uda_course.augment import rand_augment, RANDAUG_OPS, augment_explorer_figure, figure_png

def lesson_config() -> TrainConfig:
    "Lesson 04's training cell in full mode."
    return TrainConfig(model='simple', method='uda', steps=1200, lr=0.03, batch_size=32, unsup_ratio=2,
                       temperature=0.4, beta=0.8, eval_every=200)

@call_parse
def main(out: Param("folder to write", str) = 'results/explorers',
         weights: Param("trained weights, reused when present", str) = 'runs/explorers/simple-uda.pt'):
    t0 = time.time()
    torch.set_num_threads(1)
    data = load_ssl_data()
    cfg = lesson_config()
    torch.manual_seed(cfg.seed); model = SimpleCNN()     # seeded init, as the lesson does
    w = Path(weights)
    if w.exists(): model.load_state_dict(torch.load(w, weights_only=True))
    else:
        fit(model, data, cfg, uda_step, show_progress=False)
        w.parent.mkdir(parents=True, exist_ok=True); torch.save(model.state_dict(), w)
    t_train = time.time() - t0
    test_acc = accuracy(model, data.x_test, data.y_test)
    print(f"trained {cfg.steps} steps in {t_train:.0f} s: test accuracy {test_acc:.4f} (raw weights)")
    out = Path(out); out.mkdir(parents=True, exist_ok=True)

    # lesson 04: 16 of the first 2,000 unlabeled images whose confidences spread from low to high (most images are read with
    # confidence near 1, which would hide what T and beta do), in decreasing confidence
    pool_conf = predict(model, data.x_unlabeled[:2000]).softmax(1).amax(1)
    free, index = torch.ones(2000, dtype=torch.bool), []
    for level in torch.linspace(0.35, 1.0, 16):
        i = int(torch.where(free, (pool_conf - level).abs(), torch.inf).argmin()); free[i] = False; index.append(i)
    index = torch.tensor(sorted(index, key=lambda i: -float(pool_conf[i])))
    xs4 = data.x_unlabeled[index].clone()
    x_aug = rand_augment(xs4, cfg.randaug_n, cfg.randaug_m, torch.Generator().manual_seed(0), cfg.sample_magnitude, None, cfg.cutout)
    torch.save(dict(index=index, x=xs4, y_hidden=data.y_unlabeled_hidden[index].clone(), x_aug=x_aug, z_clean=predict(model, xs4),
                    z_aug=predict(model, x_aug), pool_conf=pool_conf, steps=cfg.steps, test_acc=test_acc, config=asdict(cfg)),
               out/'uda_logits.pt')
    x16, y16 = data.x_unlabeled[:16].clone(), data.y_unlabeled_hidden[:16].clone()

    ops = ['(whole pool)', *RANDAUG_OPS]
    mags, n_ops, seeds, sms = np.arange(11.0), np.arange(5), np.arange(5), (False, True)
    shape = (len(ops), len(mags), len(n_ops), len(seeds), len(sms))
    crc = np.zeros((len(ops), len(mags), len(n_ops), len(sms)), np.uint32)
    unique, where = {}, np.zeros(shape, np.int64)            # many settings draw the same views (N = 0, ops without magnitude)
    for idx in np.ndindex(*shape):
        o, m, n, s, sm = idx
        y = rand_augment(x16, int(n_ops[n]), float(mags[m]), torch.Generator().manual_seed(int(seeds[s])), sms[sm],
                         None if o == 0 else [ops[o]])
        b = y.numpy().tobytes()
        if s == 0: crc[idx[:3] + (sm,)] = zlib.crc32(b)
        where[idx] = unique.setdefault(b, (len(unique), y))[0]
    print(f"{where.size:,} settings, {len(unique):,} different batches of views ({time.time() - t0:.0f} s so far)")
    prob = predict(model, torch.cat([y for _, y in unique.values()])).softmax(1).view(len(unique), 16, -1)
    conf, pred = prob.max(2)
    np.savez_compressed(out/'augment_predictions.npz', pred=pred.numpy().astype(np.uint8)[where],
                        conf=(conf * 100).round().numpy().astype(np.uint8)[where], crc=crc,
                        ops=np.array(ops), magnitudes=mags, n_ops=n_ops, seeds=seeds, x=x16.numpy(), y_hidden=y16.numpy())
    # the explorers' first views, as pictures: lesson 03 at (whole pool, M 9, N 2, seed 0), lesson 04 at (T 0.4, beta 0.8)
    saved = np.load(out/'augment_predictions.npz')
    views = rand_augment(x16, 2, 9.0, torch.Generator().manual_seed(0), False, None)
    (out/'augment_explorer.png').write_bytes(figure_png(augment_explorer_figure(views, saved, '(whole pool)', 9.0, 2, 0, False)))
    (out/'uda_targets_explorer.png').write_bytes(figure_png(targets_explorer_figure(torch.load(out/'uda_logits.pt', weights_only=True), 0.4, 0.8)))
    for f in ('uda_logits.pt', 'augment_predictions.npz', 'augment_explorer.png', 'uda_targets_explorer.png'): print(f"{out/f}: {(out/f).stat().st_size:,} bytes")
    print(f"done in {time.time() - t0:.0f} s")
