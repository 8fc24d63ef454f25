"""Benchmark the README's digits grid search against the same search with LinearSVC.

The README's search, ``visionfeatures search --pipeline hog-svm --dataset digits --grid
'{"clf__C": [0.0001, 0.001, 0.01, 0.1]}' --cv 5``, runs through :func:`pipelines.search.search`
with the command's defaults (features cached once per fold, one process). The reference is
the same call with the pipeline's classifier replaced by scikit-learn's ``LinearSVC`` (the
classifier hog-svm had before, ``dual=True, max_iter=1000``), over the same grid of C (the
two minimise the same L2-SVM objective for a given C, but for the intercept, which liblinear
penalises as a feature of value ``intercept_scaling=1``). A third search uses ``LinearSVC``
with ``intercept_scaling=100``, whose intercept is then all but unpenalised: the objective of
ours. All run in this process, alternating, ``--repeats`` times; the script prints each
one's median seconds, and the time ratio and best-score difference of ours to each.

Examples::

    python scripts/bench_search.py --repeats 3
"""

import argparse
import os
import statistics
import sys
import warnings

GRID = {"clf__C": [0.0001, 0.001, 0.01, 0.1]}


def _parse(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3, help="runs of each (median)")
    parser.add_argument("--pipeline", default="hog-svm")
    return parser.parse_args(argv)


def main(argv=None):
    args = _parse(argv)
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.svm import LinearSVC

    from models.linear import clear_kernel_cache
    from pipelines.datasets import load_labelled
    from pipelines.search import clear_memory_cache, search

    data = load_labelled("digits", None)
    variants = {
        "README (LinearClassifier)": GRID,
        "LinearSVC": {"clf": [LinearSVC(dual=True, max_iter=1000)], **GRID},
        "LinearSVC intercept_scaling=100": {
            "clf": [LinearSVC(dual=True, max_iter=1000, intercept_scaling=100)],
            **GRID,
        },
    }
    seconds = {name: [] for name in variants}
    best = {}
    for _ in range(args.repeats):
        for name, grid in variants.items():
            clear_memory_cache()  # each run extracts its features, as a fresh command does
            clear_kernel_cache()  # and computes its Gram matrices
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always", ConvergenceWarning)
                result = search(args.pipeline, data.images, data.labels, grid, cv=5, n_jobs=1)
            unconverged = sum(issubclass(w.category, ConvergenceWarning) for w in caught)
            seconds[name].append(result.seconds)
            best[name] = (result.best_params["clf__C"], result.best_score, unconverged)
    load = os.getloadavg()[0]
    print(f"{args.pipeline} on digits, grid {GRID}, 5 folds, median of {args.repeats}:")
    for name, values in seconds.items():
        C, score, unconverged = best[name]
        runs = " ".join(f"{v:.1f}" for v in values)
        print(
            f"  {name:31s} {statistics.median(values):7.2f} s   ({runs})   best C={C:g} "
            f"accuracy {score:.4f}   fits warning ConvergenceWarning: {unconverged}"
        )
    ours = statistics.median(seconds["README (LinearClassifier)"])
    ours_score = best["README (LinearClassifier)"][1]
    for name in list(variants)[1:]:
        print(
            f"  README / {name}: time ratio {ours / statistics.median(seconds[name]):.3f}, "
            f"best-score difference {ours_score - best[name][1]:+.4f}"
        )
    print(f"  load average during the run: {load:.1f} on {os.cpu_count()} cores")
    return 0


if __name__ == "__main__":
    sys.exit(main())
