"""A bound, not a method: UDA whose targets are the unlabeled images' hidden true labels (one-hot, always passing
β), so that the only thing left to learn from is the network, the augmentation and the budget. A diagnostic of
issue-style question "what would perfect targets give?"; it reads the hidden labels, which training never may, and
so it is never a preset and lives here, outside the library.

usage: python experiments/oracle_targets.py OUT_DIR [uda_train flags ...]
  e.g. python experiments/oracle_targets.py runs/oracle/lean-s0 --preset lean --model lean --method uda --seed 0

It trains exactly what `uda_train FLAGS --out OUT_DIR/.. --name OUT_DIR.name` would, with one change: the part
`teacher` of the UDA step (lesson 04's STEP_PARTS) returns, for every unlabeled image, logits that put 10 nats on
its hidden label, so that the target is that label, sharpened. The unlabeled images are told apart by the SHA-1 of
their pixels (duplicates of MNIST's training set with two labels would be resolved to the first).
"""
import hashlib, sys
from pathlib import Path
import torch
import uda_course.experiment as experiment
from uda_course.data import load_ssl_data
from uda_course.train import forward_views
from uda_course.uda import STEP_PARTS


def main(argv):
    if len(argv) < 1: sys.exit(__doc__)
    out = Path(argv[0])
    flags = dict(zip(argv[1::2], argv[2::2]))
    seed = int(flags.get('--seed', 0))
    data = load_ssl_data(seed=seed)
    label_of = {hashlib.sha1(x.numpy().tobytes()).digest(): int(y)
                for x, y in zip(data.x_unlabeled, data.y_unlabeled_hidden)}

    def oracle(model, teacher, x_lab, x_teacher, x_aug):
        "Logits of the labeled and strong views from `model`; the target's logits from the hidden labels."
        y = torch.tensor([label_of[hashlib.sha1(x.cpu().numpy().tobytes()).digest()] for x in x_teacher])
        logits_l, logits_aug = forward_views(model, x_lab, x_aug)
        return logits_l, 10.0 * torch.nn.functional.one_hot(y, logits_l.shape[1]).float(), logits_aug

    # every teacher setting gives the oracle: the flags may ask for 'ema' or 'live'
    for k in list(STEP_PARTS['teacher']): STEP_PARTS['teacher'][k] = oracle
    from uda_course.cli import uda_train_main
    sys.argv = ['uda_train', *argv[1:], '--out', str(out.parent), '--name', out.name, '--quiet',
                '--diagnostics', 'False']
    uda_train_main()


if __name__ == '__main__': main(sys.argv[1:])
