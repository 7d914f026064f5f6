"""Installed like a real package: the wheel, not the checkout. Built offline from a copy of the
sources, installed into a fresh virtual environment (its dependencies are this environment's,
offline), and used from an empty directory as a user would after `pip install keras-zoo`."""

from __future__ import annotations

import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
IGNORED = shutil.ignore_patterns(".git", ".venv", "build", "dist", "*.egg-info", "__pycache__", "saved_models",
                                 "runs", ".pytest_cache")


def _run(*command, cwd, timeout=600) -> subprocess.CompletedProcess:
    done = subprocess.run([str(c) for c in command], cwd=cwd, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, f"{command}: {done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done


def test_the_wheel_trains_and_predicts_from_an_empty_directory(tmp_path):
    sources = tmp_path / "src"
    shutil.copytree(ROOT, sources, ignore=IGNORED)
    _run(sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index",
         "-w", tmp_path / "dist", sources, cwd=tmp_path)
    wheel, = (tmp_path / "dist").glob("keras_zoo-*.whl")

    venv = tmp_path / "venv"
    _run(sys.executable, "-m", "venv", venv, cwd=tmp_path)
    python = venv / "bin" / "python"
    site = Path(_run(python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])",
                     cwd=tmp_path).stdout.strip())
    # The dependencies: this environment's packages, after the venv's own (so `zoo` is the wheel's).
    (site / "zz_test_dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    _run(python, "-m", "pip", "install", "--no-deps", "--no-index", wheel, cwd=tmp_path)

    user = tmp_path / "empty"
    user.mkdir()
    where = _run(python, "-c", "import zoo, zoo.recipes; print(zoo.__file__); print(zoo.recipes.__file__)", cwd=user)
    assert all(line.startswith(str(site)) for line in where.stdout.split()), where.stdout
    zoo = venv / "bin" / "zoo"
    assert _run(zoo, "list", cwd=user).stdout.startswith("NAME")
    assert "perceptron_iris" in _run(zoo, "train", cwd=user).stdout
    trained = _run(zoo, "train", "perceptron_iris", "--dataset", "iris_offline", "--epochs", "3",
                   "--data-dir", tmp_path / "data", cwd=user)
    assert "perceptron on iris_offline: test accuracy" in trained.stdout
    assert (user / "saved_models" / "perceptron" / "1" / "saved_model.pb").is_file()
    predicted = _run(zoo, "predict", "perceptron", "--model-base-path", "saved_models", cwd=user)
    assert predicted.stdout.startswith("perceptron: example 0: class "), predicted.stdout
