"""Dask: batch extraction and grid search on a local cluster give the loky results."""

import numpy as np
import pytest

distributed = pytest.importorskip("distributed")

from pipelines.batch import extract_folder  # noqa: E402
from pipelines.datasets import load_dataset  # noqa: E402
from pipelines.search import clear_memory_cache, search  # noqa: E402
from tests.test_batch import OUTPUT_FILES, make_folder  # noqa: E402


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return make_folder(tmp_path_factory.mktemp("images"))


@pytest.fixture(scope="module")
def cluster():
    """Two single-threaded workers on loopback (threads: starting processes costs seconds)."""
    with distributed.LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=False,
        protocol="tcp",
        host="127.0.0.1",
        dashboard_address=None,
    ) as cluster:
        yield cluster


def test_batch_extraction_on_dask_equals_loky(folder, tmp_path, cluster):
    extract_folder(folder, tmp_path / "loky", chunk_size=4, n_jobs=1, backend="loky")
    manifest = extract_folder(
        folder, tmp_path / "dask", chunk_size=4, backend="dask", scheduler=cluster.scheduler_address
    )
    assert manifest["run"]["backend"] == "dask" and manifest["n_images"] == 21
    for name in OUTPUT_FILES:
        assert (tmp_path / "dask" / name).read_bytes() == (tmp_path / "loky" / name).read_bytes()


def test_grid_search_on_dask_equals_loky(cluster):
    data = load_dataset("digits")
    data = data.subset(np.random.default_rng(0).permutation(len(data))[:300])
    grid = {"clf__C": [1e-4, 1e-3], "features__grey": [False], "clf__random_state": [0]}
    clear_memory_cache()
    local = search("pixels-softmax", data.images, data.labels, grid, cv=3, n_jobs=1)
    clear_memory_cache()
    remote = search(
        "pixels-softmax",
        data.images,
        data.labels,
        grid,
        cv=3,
        backend="dask",
        scheduler=cluster.scheduler_address,
    )
    for key in ("mean_test_score", "split0_test_score", "rank_test_score"):
        np.testing.assert_array_equal(remote.cv_results[key], local.cv_results[key])
    assert remote.best_params == local.best_params
    np.testing.assert_array_equal(
        remote.best_pipeline.predict(data.images), local.best_pipeline.predict(data.images)
    )


def test_the_scheduler_given_is_the_one_used(cluster):
    # _runtime.parallel_backend: with an address, joblib's work goes to that scheduler (a
    # local cluster of its own would give the same results, so only the address tells)
    import joblib

    from pipelines._runtime import parallel_backend

    with parallel_backend("dask", scheduler=cluster.scheduler_address) as n_jobs:
        client = distributed.get_client()
        assert client.scheduler_info()["address"] == cluster.scheduler_address
        squares = joblib.Parallel(n_jobs=n_jobs)(joblib.delayed(pow)(i, 2) for i in range(4))
    assert squares == [0, 1, 4, 9]
