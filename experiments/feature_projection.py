"""The map that opens lesson 04: where two copies of LeanCNN put 2,000 unlabeled MNIST images, one trained on the
100 labels alone and one with UDA, each image placed by t-SNE from the network's penultimate features (the 128
averages that feed the last linear layer) and coloured by its hidden label.

usage:
  python experiments/feature_projection.py keep RUN_DIR OUT.pt          # the EMA weights of a run folder, alone
  python experiments/feature_projection.py map SUP.pt UDA.pt OUT.csv    # features -> 2-D, one row per image

`map` takes the first 2,000 unlabeled images of label split 0 (`load_ssl_data(seed=0)`), their hidden labels (to
colour the map, never to train), each network's prediction, and t-SNE coordinates (scikit-learn, PCA start,
random_state 0) computed separately for each network.
"""
import sys
from pathlib import Path
import pandas as pd, torch
from sklearn.manifold import TSNE
from uda_course.best_cnn import LeanCNN
from uda_course.data import load_ssl_data

N_IMAGES = 2000


def features(weights: Path, x: torch.Tensor):
    "Penultimate features (N, 128) and predicted classes (N,) of LeanCNN with the EMA weights in `weights`."
    model = LeanCNN()
    model.load_state_dict(torch.load(weights, weights_only=True))
    model.eval()
    with torch.no_grad():
        f = model.normalize_input(x).contiguous(memory_format=torch.channels_last)
        for layer in list(model)[:-1]: f = layer(f)          # every layer but the last linear one
        return f, model[-1](f).argmax(1)


def main(argv):
    if argv[:1] == ['keep'] and len(argv) == 3:
        state = torch.load(Path(argv[1])/'model.pt', weights_only=True)
        torch.save(state['ema'], argv[2]); print(f"{argv[2]}: EMA weights of {argv[1]}"); return
    if argv[:1] != ['map'] or len(argv) != 4: sys.exit(__doc__)
    data = load_ssl_data(seed=0)
    x, y = data.x_unlabeled[:N_IMAGES], data.y_unlabeled_hidden[:N_IMAGES]
    table = pd.DataFrame(dict(label=y.numpy()))
    for name, weights in (('sup', argv[1]), ('uda', argv[2])):
        f, pred = features(Path(weights), x)
        xy = TSNE(2, init='pca', random_state=0).fit_transform(f.numpy())
        table[f'{name}_pred'], table[f'{name}_x'], table[f'{name}_y'] = pred.numpy(), xy[:, 0], xy[:, 1]
        print(f"{name}: {(pred == y).float().mean():.4f} of {N_IMAGES} unlabeled images read right")
    table.round(3).to_csv(argv[3], index_label='image'); print(f"wrote {argv[3]}")


if __name__ == '__main__': main(sys.argv[1:])
