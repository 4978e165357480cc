"""A diagnostic: does a wider LeanCNN lift the network's ceiling? Trains what `uda_train FLAGS`
would, with `--model lean` built with other channel widths (lesson 05's `LeanCNN(widths=...)`;
the default is 16,32,64,128). Not a preset: `config.json` does not record the widths, so the run's
name must say them.

usage: python experiments/wide_ceiling.py WIDTHS [uda_train flags ...]
  e.g. python experiments/wide_ceiling.py 32,64,128,256 --preset lean_pair_long --model lean \
           --method sup --seed 0 --n_labeled 53000 --out runs/wide \
           --name lean-w32-sup-53000labels-8k-bf16
"""
import sys
from functools import partial
import uda_course.experiment as experiment
from uda_course.best_cnn import LeanCNN


def main(argv):
    if len(argv) < 1: sys.exit(__doc__)
    parts = argv[0].split(',')
    if len(parts) != 4 or not all(p.isdigit() and int(p) > 0 for p in parts):
        sys.exit(f"error: WIDTHS needs four positive whole numbers joined by commas, such as "
                 f"24,48,96,192; got {argv[0]!r}")
    widths = tuple(int(p) for p in parts)
    experiment.MODEL_CLASSES['lean'] = partial(LeanCNN, widths=widths)   # make_model looks it up
    from uda_course.cli import uda_train_main
    sys.argv = ['uda_train', *argv[1:]]
    uda_train_main()


if __name__ == '__main__': main(sys.argv[1:])
