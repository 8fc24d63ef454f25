"""Benchmark BagOfVisualWords: encoding speed against the matrix-product bound, and accuracy.

Speed (default): on one core (BLAS and numba threads set to 1), for k = 400 and 1600 words,
encode random 32x32 RGB images and print images/s, the time split between the stages, and the
bound set by a plain float32 product of the same shape as the distance product, measured in
the same run (median of several repeats)::

    python scripts/bench_bovw.py

Accuracy: ``--data FOLDER`` (a ``FOLDER/<class>/<image>`` tree, e.g. the CIFAR-10 training
split) trains the registered ``bovw-svm`` pipeline (its defaults are Coates' recipe) on all but
a stratified, shuffled hold-out of ``--test-size`` images (random_state=0) and prints the
hold-out accuracy with the wall and CPU time of every stage (fit of the features, encoding,
training of the classifier) and their total::

    python scripts/bench_bovw.py --data /tmp/cifar/train

The features step runs once; ``--classifier`` names the classifiers trained on its output:
``bovw-svm`` and ``bovw-mlp`` (the registered pipelines after their features step),
``network-svm`` (the multiclass hinge by mini-batches), ``linearsvc``, ``logistic``.
``--features FILE.npz`` caches the encoded features; ``--flip`` adds the mirror images of the
training part to the training set (not part of the recipe). ``--set NAME=VALUE`` changes a
parameter of the features step and ``--train-size N`` keeps N training images (stratified),
to measure what one departure from the recipe costs::

    python scripts/bench_bovw.py --data cifar10/train --train-size 10000 --test-size 2000 \
        --set whiten_eps=0.1
"""

import argparse
import sys
import time

import numpy as np


def _speed(n_words, n_images, repeats):
    from features import _bovw_kernels as kernels
    from features import bovw

    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (n_images, 32, 32, 3), dtype=np.uint8)
    model = bovw.BagOfVisualWords(n_words=n_words, n_training_patches=20_000, random_state=0)
    model.fit(images)
    model.transform(images[:2])  # compile / warm up

    # The same work stage by stage, block by block, as _transform_batch does it.
    converted = model._prepare(images)
    grids, side, _ = model._cells()
    cells = bovw.pooling_cells(model._grid(), side)
    k, d = model.codebook_.shape
    step = max(1, bovw._BLOCK_VALUES // (len(cells) * k))
    blocks = [converted[s : s + step] for s in range(0, n_images, step)]
    rows = step * len(cells)
    w = model.whitening_.astype(np.float32)
    bias = (model.descriptor_mean_ @ model.whitening_).astype(np.float32)
    neg2 = np.float32(-2.0) * model.codebook_.T
    c_sq = np.einsum("ij,ij->i", model.codebook_, model.codebook_)
    patches = np.empty((rows, d), np.float32)
    white = np.empty((rows, d), np.float32)
    dots = np.empty((rows, k), np.float32)
    fine = np.zeros((step, side * side, k), np.float32)

    def stage(normalize=False, whiten=False, product=False, encode=False):
        for block in blocks:
            n = len(block) * len(cells)
            kernels.extract_patches_normalized(
                block, 6, 1, np.float32(model.contrast_eps / 255**2), normalize, patches[:n]
            )
            if whiten:
                np.matmul(patches[:n], w, out=white[:n])
                white[:n] -= bias
            if product:
                np.matmul(white[:n], neg2, out=dots[:n])
            if encode:
                x_sq = np.einsum("ij,ij->i", white[:n], white[:n])
                kernels.triangle_pool(dots[:n], x_sq, c_sq, cells, fine[: len(block)])

    x = rng.standard_normal((rows, d), dtype=np.float32)
    n_blocks = int(np.ceil(n_images / step))
    big_x = rng.standard_normal((n_images * len(cells), d), dtype=np.float32)
    runs = {
        "transform": lambda: model.transform(images),
        "extract": lambda: stage(),
        "normalise": lambda: stage(normalize=True),
        "whiten": lambda: stage(normalize=True, whiten=True),
        "distance sgemm": lambda: stage(normalize=True, whiten=True, product=True),
        "encode+pool": lambda: stage(True, True, True, True),
        # The bound: a plain float32 product of the distance product's shape over the same
        # images, in the same blocks or in one call.
        "blocked": lambda: [np.matmul(x, neg2, out=dots) for _ in range(n_blocks)],
        "whole": lambda: big_x @ neg2,
    }
    # Repeats interleave all measurements, so that a change of load on the shared machine
    # hits them alike; each is the median over repeats.
    times = {name: [] for name in runs}
    for _ in range(repeats):
        for name, fn in runs.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    t = {name: np.asarray(v) for name, v in times.items()}
    bound = np.minimum(t["blocked"], t["whole"])
    cumulative = [float(np.median(t[name])) for name in list(runs)[1:6]]
    split = np.diff([0.0, *cumulative])
    ratio = float(np.median(bound / t["transform"]))
    return (
        float(np.median(t["transform"])),
        split,
        float(np.median(bound)),
        float(np.median(t["blocked"])),
        float(np.median(t["whole"])),
        ratio,
    )


def _run_speed(args):
    import numba
    from threadpoolctl import threadpool_limits

    numba.set_num_threads(1)
    with threadpool_limits(limits=1):
        print(
            f"one core; {args.images} random 32x32 RGB images; patch 6, stride 1 -> 729 patches"
            f" of 108 values per image; median of {args.repeats}"
        )
        names = ["extract", "normalise", "whiten", "distance sgemm", "encode+pool"]
        for k in (400, 1600):
            total, split, bound, blocked, whole, ratio = _speed(k, args.images, args.repeats)
            print(f"\nk={k}: transform {args.images / total:8.1f} images/s ({total:.3f} s)")
            for name, t in zip(names, split):
                print(f"  {name:15s} {t:7.3f} s  {100 * t / split.sum():5.1f} %")
            print(
                f"  bound: plain sgemm ({729 * args.images} x 108) @ (108 x {k}): blocks "
                f"{blocked:.3f} s, one call {whole:.3f} s -> {args.images / bound:8.1f} images/s"
            )
            print(
                f"  encoding reaches {100 * ratio:.1f} % of the bound (median of per-repeat ratios)"
            )
    return 0


def _classifier(name, random_state):
    """The scaler and classifier trained on the encoded features."""
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    from pipelines import make

    if name in ("bovw-svm", "bovw-mlp"):
        return Pipeline(make(name).steps[1:])  # the registered pipeline after its features
    if name == "network-svm":
        from models import NeuralNetClassifier

        clf = NeuralNetClassifier(
            hidden_layer_sizes=(),
            loss="svm",
            alpha=1e-3,
            batch_size=256,
            max_epochs=30,
            schedule="cosine",
            random_state=random_state,
        )
    elif name == "linearsvc":
        from sklearn.svm import LinearSVC

        clf = LinearSVC(C=1e-3, dual=False, random_state=random_state)
    else:
        from sklearn.linear_model import LogisticRegression

        clf = LogisticRegression(C=1e-3, max_iter=300)
    return Pipeline([("scale", StandardScaler()), ("clf", clf)])


def _clock():
    """Return a function giving the (wall, CPU of all threads) seconds since this call."""
    wall, cpu = time.perf_counter(), time.process_time()
    return lambda: (time.perf_counter() - wall, time.process_time() - cpu)


def _run_accuracy(args):
    from sklearn.model_selection import train_test_split

    from pipelines import make
    from pipelines.datasets import load_image_folder

    if args.features and _exists(args.features):
        saved = np.load(args.features)
        train, test, y_train, y_test = (saved[n] for n in ("train", "test", "y_train", "y_test"))
        times = {"fit": tuple(saved["fit_time"]), "encode": tuple(saved["encode_time"])}
        print(f"features loaded from {args.features}: {train.shape}", flush=True)
    else:
        elapsed = _clock()
        data = load_image_folder(args.data)
        print(f"loaded {len(data)} images in {elapsed()[0]:.1f} s", flush=True)
        train_index, test_index = train_test_split(
            np.arange(len(data)),
            test_size=args.test_size,
            stratify=data.labels,
            shuffle=True,
            random_state=0,
        )
        if args.train_size is not None and args.train_size < len(train_index):
            train_index, _ = train_test_split(
                train_index,
                train_size=args.train_size,
                stratify=data.labels[train_index],
                shuffle=True,
                random_state=0,
            )
        settings = {f"features__{k}": v for k, v in (_setting(t) for t in args.set)}
        settings.setdefault("features__n_words", args.n_words)
        model = make("bovw-svm", **settings).named_steps["features"]
        print(f"features step: {model!r}", flush=True)
        elapsed = _clock()
        model.fit(data.images[train_index])
        times = {"fit": elapsed()}
        print(
            f"fit (patches, whitening, k-means k={args.n_words}): {_text(times['fit'])}", flush=True
        )
        elapsed = _clock()
        train = model.transform(data.images[train_index])
        test = model.transform(data.images[test_index])
        y_train, y_test = data.labels[train_index], data.labels[test_index]
        if args.flip:
            mirrored = model.transform(data.images[train_index][:, :, ::-1])
            train, y_train = np.concatenate([train, mirrored]), np.concatenate([y_train, y_train])
        times["encode"] = elapsed()
        print(
            f"encode {len(train) + len(test)} images: {_text(times['encode'])} "
            f"({(len(train) + len(test)) / times['encode'][0]:.0f} images/s wall)",
            flush=True,
        )
        if args.features:
            np.savez(
                args.features,
                train=train,
                test=test,
                y_train=y_train,
                y_test=y_test,
                fit_time=times["fit"],
                encode_time=times["encode"],
            )
    for name in args.classifier:
        elapsed = _clock()
        clf = _classifier(name, 0).fit(train, y_train)
        train_time = elapsed()
        accuracy = float(np.mean(clf.predict(test) == y_test))
        total = np.add(np.add(times["fit"], times["encode"]), train_time)
        print(
            f"{name}: hold-out accuracy {100 * accuracy:.2f} % on {len(y_test)} images; "
            f"train {_text(train_time)}; total fit+encode+train {_text(total)} "
            f"({total[0] / 60:.1f} min wall)",
            flush=True,
        )
    return 0


def _setting(text):
    """``NAME=VALUE`` as (name, value): a number when it reads as one, else the string."""
    name, sep, value = text.partition("=")
    if not sep:
        raise ValueError(f"--set expects NAME=VALUE; got {text!r}")
    for kind in (int, float):
        try:
            return name, kind(value)
        except ValueError:
            pass
    return name, value


def _text(times):
    return f"{times[0]:.1f} s wall, {times[1]:.1f} s CPU"


def _exists(path):
    from pathlib import Path

    return Path(path).exists()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", help="image folder root/<class>/<image>: run the accuracy test")
    parser.add_argument("--test-size", type=int, default=5000)
    parser.add_argument("--n-words", type=int, default=1600)
    parser.add_argument(
        "--classifier",
        nargs="+",
        default=["bovw-svm"],
        choices=["bovw-svm", "bovw-mlp", "network-svm", "linearsvc", "logistic"],
    )
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a parameter of the features step, e.g. whiten_eps=0.1 or init=random",
    )
    parser.add_argument(
        "--train-size", type=int, default=None, help="training images kept (default: all)"
    )
    parser.add_argument("--features", help="cache file (.npz) of the encoded features")
    parser.add_argument(
        "--flip", action="store_true", help="also train on the mirror images of the training part"
    )
    parser.add_argument("--images", type=int, default=100, help="images of the speed test")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)
    if args.images < 1 or args.repeats < 1:
        print("error: --images and --repeats must be >= 1", file=sys.stderr)
        return 2
    try:
        return _run_accuracy(args) if args.data else _run_speed(args)
    except (OSError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
