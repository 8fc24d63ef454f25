"""Smoke tests of the models' scripts on tiny inputs (the real runs are long)."""

import re

import pytest

from scripts import bench_mlp, optimizers_demo


def test_bench_mlp_prints_the_ratio(capsys):
    argv = [
        "--samples",
        "300",
        "--features",
        "20",
        "--hidden",
        "8",
        "--batch-size",
        "50",
        "--repeats",
        "2",
    ]
    assert bench_mlp.main(argv) == 0
    out = capsys.readouterr().out
    assert re.search(r"ratio ours / sklearn +\d+\.\d+", out)


def test_bench_mlp_missing_folder_is_an_error(tmp_path, capsys):
    assert bench_mlp.main(["--no-speed", "--data", str(tmp_path / "none")]) == 1
    assert capsys.readouterr().err.startswith("bench_mlp: ")


def test_optimizers_demo_draws_the_trajectories(tmp_path, capsys):
    assert (
        optimizers_demo.main(["--trajectories", "--steps", "20", "--out-dir", str(tmp_path)]) == 0
    )
    assert (tmp_path / "optimizers_trajectories.png").stat().st_size > 10_000
    assert "wrote" in capsys.readouterr().out


def test_optimizers_demo_bad_usage(tmp_path, capsys):
    assert optimizers_demo.main(["--out-dir", str(tmp_path / "missing")]) == 2
    assert "is not a folder" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        optimizers_demo.main(["--no-such-option"])
