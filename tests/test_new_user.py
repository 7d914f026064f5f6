"""The new user's path, as a user meets it: the real `zoo` command in subprocesses with piped
output (as in CI logs or `| tee`), reading what it prints.

One digits-trained LeNet (a real `zoo train` run) serves the `zoo predict` tests.
"""

from __future__ import annotations

import json
import os
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from serving_helpers import running_server
from zoo import console

ZOO = [sys.executable, "-m", "zoo"]
# What TensorFlow 2.21 prints on import on a CPU machine (see zoo.console), and terminal codes.
NOISE = ("absl::InitializeLog", "cudart_stub", "cuInit", "cpu_feature_guard", "oneDNN", "AVX2", "\x1b[", "\r")


def user_env(**extra) -> dict:
    """The environment of a user who set nothing: no TF_CPP_MIN_LOG_LEVEL, no ZOO_LOG_LEVEL."""
    env = {k: v for k, v in os.environ.items() if k not in ("TF_CPP_MIN_LOG_LEVEL", "ZOO_LOG_LEVEL")}
    return {**env, **extra}


def zoo(*args, cwd, env=None, timeout=600) -> subprocess.CompletedProcess:
    return subprocess.run([*ZOO, *args], cwd=cwd, env=env or user_env(), capture_output=True, text=True,
                          timeout=timeout)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """`zoo train lenet_mnist --dataset digits` from an empty directory, output piped."""
    cwd = tmp_path_factory.mktemp("user")
    done = zoo("train", "lenet_mnist", "--dataset", "digits", "--epochs", "15", "--data-dir", str(cwd / "data"),
               cwd=cwd)
    assert done.returncode == 0, done.stdout + done.stderr
    return cwd, done


def test_a_training_run_prints_its_own_lines_and_nothing_of_tensorflows(trained):
    cwd, done = trained
    assert done.stderr == ""
    for noise in NOISE:
        assert noise not in done.stdout
    lines = done.stdout.splitlines()
    # The bundled data is prepared in one line that says so; TFDS' download banner never shows.
    assert [line for line in lines if "Preparing the bundled" in line] == [
        f"Preparing the bundled MNIST-format images dataset 'digits' (from data installed with scikit-learn) "
        f"in {cwd / 'data' / 'digits' / '1.0.0'}: once, later runs read it from there."]
    assert "Downloading" not in done.stdout and "Generating splits" not in done.stdout
    # Piped: one plain line per epoch, counted from 1.
    epochs = [line for line in lines if line.startswith("epoch ")]
    assert [line.split(":")[0] for line in epochs] == [f"epoch {i}/15" for i in range(1, 16)]
    assert all(re.fullmatch(r"epoch \d+/15: accuracy [\d.]+, loss [\d.]+, val_accuracy [\d.]+, "
                            r"val_loss [\d.]+ \(\d+\.\d s\)", line) for line in epochs), epochs
    assert any(line.startswith("lenet on digits: test accuracy") for line in lines)


def test_verbose_brings_tensorflows_lines_back(tmp_path):
    done = zoo("train", "perceptron_iris", "--dataset", "iris_offline", "--epochs", "1", "--verbose",
               "--data-dir", str(tmp_path / "data"), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "absl::InitializeLog" in done.stderr and "cudart_stub" in done.stderr


def test_a_gp_run_shows_no_third_party_deprecation_chatter(tmp_path):
    done = zoo("train", "gp_wine_quality", "--dataset", "diabetes", "--epochs", "20",
               "--data-dir", str(tmp_path / "data"), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    assert "jitter" not in done.stdout and "deprecated" not in done.stdout
    # 20 one-step epochs, piped: the first, every second, and the last.
    assert [line.split(":")[0] for line in done.stdout.splitlines() if line.startswith("epoch ")] == \
        ["epoch 1/20"] + [f"epoch {i}/20" for i in range(2, 21, 2)]


def test_the_startup_filter_drops_only_tensorflows_known_lines():
    captured = [
        "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\n",
        "I0000 00:00:1796300735.313494    5919 cudart_stub.cc:31] Could not find cuda drivers on your "
        "machine, GPU will not be used.\n",
        "E0000 00:00:1796300740.340669    5919 cuda_platform.cc:52] failed call to cuInit: INTERNAL: CUDA error: "
        "Failed call to cuInit: UNKNOWN ERROR (303)\n",
        "I0000 00:00:1796300735.373433    5919 cpu_feature_guard.cc:227] This TensorFlow binary is optimized to "
        "use available CPU instructions in performance-critical operations.\n",
        "To enable the following instructions: AVX2 FMA, in other operations, rebuild TensorFlow with the "
        "appropriate compiler flags.\n",
        "E0000 00:00:1796300740.340669    5919 some_op.cc:12] Out of memory while allocating the model\n",
        "ImportError: numpy.core.multiarray failed to import\n",
    ]
    assert [line for line in captured if not console._STARTUP_NOISE.search(line)] == captured[-2:]


def test_deprecations_from_library_internals_are_dropped_and_the_users_own_kept():
    import logging

    def record(message):
        return logging.LogRecord("tensorflow", logging.WARNING, __file__, 1, message, None, None)

    tfp_internal = ("From /venv/lib/python3.11/site-packages/tensorflow_probability/python/distributions/"
                    "gaussian_process_regression_model.py:441: calling GaussianProcess.__init__ (from "
                    "tensorflow_probability.python.distributions.gaussian_process) with jitter is deprecated")
    users_own = ("From /home/ada/notebooks/train.py:12: calling Dataset.shuffle (from tensorflow) with "
                 "reshuffle_each_iteration=None is deprecated")
    assert console._library_deprecations(record(tfp_internal)) is False
    assert console._library_deprecations(record(users_own)) is True
    assert console._library_deprecations(record("Model has NaN weights")) is True


def test_zoo_log_level_is_checked(monkeypatch, capsys):
    monkeypatch.setenv("ZOO_LOG_LEVEL", "DEBUG")
    assert console.verbose()
    monkeypatch.setenv("ZOO_LOG_LEVEL", "loud")
    assert console.log_level() == "warning"
    assert "ZOO_LOG_LEVEL must be one of debug, info, warning, error. Received: 'loud'" in capsys.readouterr().err


# A recipe's command line in a fresh interpreter, reporting which heavy modules it loaded.
PROBE = """
import contextlib, io, json, sys
from zoo.cli import main
out, err = io.StringIO(), io.StringIO()
with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
    try:
        code = main(sys.argv[1:])
    except SystemExit as done:
        code = done.code
heavy = sorted(m for m in ("tensorflow", "jax", "keras.src", "tensorflow_probability", "tensorflow_datasets")
               if m in sys.modules)
print(json.dumps({"code": code, "out": out.getvalue(), "err": err.getvalue(), "heavy": heavy}))
"""


def _probe(*args) -> dict:
    done = subprocess.run([sys.executable, "-c", PROBE, *args], capture_output=True, text=True, timeout=120,
                          env=user_env(), check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_recipe_help_and_flag_errors_import_no_tensorflow():
    helped = _probe("train", "lenet_mnist", "--help")
    assert helped["code"] == 0 and "--set KEY=VALUE" in helped["out"] and helped["heavy"] == []
    typo = _probe("train", "lenet_mnist", "--set", "dropuot=0.1")
    assert typo["code"] == 2 and typo["heavy"] == []
    assert "--set dropuot: not a field of this recipe nor a config key of model 'lenet'" in typo["err"]
    listed = _probe("train")
    assert listed["code"] == 0 and listed["heavy"] == []


def test_recipe_help_answers_as_fast_as_zoo_list(tmp_path):
    """Against a TensorFlow-free baseline in the same run (alternating, median of 3): importing
    TensorFlow alone takes seconds here, so a regression shows far beyond the margin."""
    timings: dict[str, list[float]] = {"list": [], "help": [], "typo": []}
    commands = {"list": ["list"], "help": ["train", "lenet_mnist", "--help"],
                "typo": ["train", "lenet_mnist", "--set", "dropuot=0.1"]}
    for _ in range(3):
        for name, args in commands.items():
            start = time.perf_counter()
            zoo(*args, cwd=tmp_path)
            timings[name].append(time.perf_counter() - start)
    baseline = statistics.median(timings["list"])
    for name in ("help", "typo"):
        assert statistics.median(timings[name]) < baseline + 0.5, (timings, baseline)
        assert statistics.median(timings[name]) < 1.0, timings


def test_zoo_train_without_a_recipe_lists_them_with_their_summaries(tmp_path):
    done = zoo("train", cwd=tmp_path)
    assert done.returncode == 0 and done.stderr == ""
    recipes = sorted(p.stem for p in (Path(__file__).parents[1] / "recipes").glob("*.py") if p.stem[0] != "_")
    for name in recipes:
        assert re.search(rf"^  {name} +\S", done.stdout, re.M), name
    assert "  lenet_mnist " in done.stdout and "LeNet (the catalog's modern variant) on MNIST" in done.stdout
    typo = zoo("train", "lenet_mnis", cwd=tmp_path)
    assert typo.returncode == 2 and "Did you mean 'lenet_mnist'" in typo.stderr


def test_a_directory_named_zoo_is_explained_not_a_bare_attribute_error(tmp_path):
    (tmp_path / "zoo").mkdir()  # a project folder named zoo, no __init__.py
    done = zoo("list", cwd=tmp_path)
    assert "Traceback" not in done.stderr
    # An editable install is shadowed by it (a regular one is not): either way, no bare error.
    if done.returncode == 0:
        assert done.stdout.startswith("NAME")
    else:
        assert done.returncode == 2
        assert f"`import zoo` found the directory {tmp_path / 'zoo'} (no __init__.py)" in done.stderr


@pytest.fixture(scope="module")
def server(trained):
    cwd, _ = trained
    with running_server(cwd / "saved_models", env={"TF_CPP_MIN_LOG_LEVEL": None}) as (client, process):
        yield cwd, client, process


def _test_digits(cwd: Path, count: int):
    import tensorflow_datasets as tfds

    import zoo.data.digits  # noqa: F401  (registers the builder)

    test = tfds.load("digits", split="test", as_supervised=True, data_dir=str(cwd / "data"))
    return [(x.numpy(), int(y)) for x, y in test.take(count)]


def test_zoo_serve_prints_no_tensorflow_startup_lines(server):
    _, _, process = server
    output = process.output()
    assert "Serving models from" in output
    for noise in NOISE:
        assert noise not in output


def test_zoo_predict_classifies_the_images_people_have(server, tmp_path):
    """Test digits as a 280x280 RGB black-on-white drawing and as a 28x28 grayscale PNG are both
    classified as their label, each in under 1.5 s of client time, and the inversion is said."""
    from PIL import Image

    cwd, client, _ = server
    url = f"http://127.0.0.1:{client.port}"
    checked = 0
    for i, (pixels, label) in enumerate(_test_digits(cwd, 12)):
        np.save(tmp_path / f"{i}.npy", pixels[None].astype(np.float32))
        raw = zoo("predict", "lenet", str(tmp_path / f"{i}.npy"), "--server", url, cwd=tmp_path)
        if f"class {label} " not in raw.stdout:
            continue  # the model's own mistake on the raw pixels, not the image reader's
        gray = tmp_path / f"{i}-gray.png"
        Image.fromarray(pixels[..., 0]).save(gray)
        drawn = tmp_path / f"{i}-drawn.png"
        Image.fromarray(255 - pixels[..., 0]).resize((280, 280), Image.Resampling.NEAREST).convert("RGB").save(drawn)
        for path in (gray, drawn):
            start = time.perf_counter()
            done = zoo("predict", "lenet", str(path), "--server", url, cwd=tmp_path)
            seconds = time.perf_counter() - start
            assert done.returncode == 0, done.stderr
            assert done.stdout.startswith(f"lenet: example 0: class {label} ("), (path.name, done.stdout)
            assert seconds < 1.5, (path.name, seconds)
        assert "inverted: the image has dark strokes on a light background" in done.stderr
        assert "resized 280x280 -> 28x28" in done.stderr and "converted RGB to grayscale" in done.stderr
        checked += 1
    assert checked >= 10


def test_zoo_predict_prints_every_request_format_the_same_way(server, tmp_path):
    cwd, client, _ = server
    url = f"http://127.0.0.1:{client.port}"
    (pixels, label), = _test_digits(cwd, 1)
    batch = pixels[None].astype(float)
    np.save(tmp_path / "x.npy", batch.astype(np.float32))
    (tmp_path / "rows.json").write_text(json.dumps({"instances": batch.tolist()}))
    (tmp_path / "columns.json").write_text(json.dumps({"inputs": batch.tolist()}))
    printed = {name: zoo("predict", "lenet", str(tmp_path / name), "--server", url, cwd=tmp_path).stdout
               for name in ("x.npy", "rows.json", "columns.json")}
    assert len(set(printed.values())) == 1, printed
    assert re.fullmatch(r"lenet: example 0: class \d \(\d: [\d.]+, \d: [\d.]+, \d: [\d.]+\)\n", printed["x.npy"])


def test_zoo_predict_refuses_what_is_not_an_image_and_says_what_it_takes(server, tmp_path):
    _, client, _ = server
    (tmp_path / "notes.txt").write_text("a 7")
    done = zoo("predict", "lenet", str(tmp_path / "notes.txt"), "--server", f"http://127.0.0.1:{client.port}",
               cwd=tmp_path)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert "as an image" in done.stderr and "a .npy array or a JSON request" in done.stderr


def test_the_python_serving_api_serves_lists_and_logs_requests(trained):
    """`zoo.serving.background` with the CLI's options as keywords: GET /v1/models lists the
    models, `predict` answers, `log_level="info"` writes one access line per request, and the
    server is gone after the block."""
    from zoo import serving

    cwd, _ = trained
    (pixels, label), = _test_digits(cwd, 1)
    with serving.background(model_base_path=cwd / "saved_models", log_level="info") as server:
        assert server.models() == {"lenet": [1]}
        assert server.grpc_target is None  # gRPC off unless asked for
        assert len(server.predict("lenet", pixels[None].astype(np.float32))["classes"]) == 1
        log = server.log()
        assert '"GET /v1/models HTTP/1.1" 200' in log and '"POST /v1/models/lenet:predict HTTP/1.1" 200' in log
        process = server.process
    assert process.poll() == 0  # stopped, cleanly
    with serving.background(model_base_path=cwd / "saved_models") as quiet:
        quiet.models()
        assert "GET /v1/models" not in quiet.log()  # the default, warning: no access log
    with pytest.raises(TypeError, match="Unknown zoo serve option 'rest_api_prot'. Accepted: .*rest_api_port"):
        with serving.background(model_base_path="saved_models", rest_api_prot=1):
            pass
    with pytest.raises(RuntimeError, match="zoo serve` exited with 2"):
        with serving.background(model_base_path=cwd / "saved_models", max_body_mb=-1):
            pass


def test_zoo_runs_lists_what_each_run_did(trained):
    cwd, done = trained
    summary = next(line for line in done.stdout.splitlines() if line.startswith("lenet on digits"))
    # The summary names the export, the run directory with every file it wrote, and TensorBoard.
    assert summary.endswith("| export: saved_models/lenet/1 | run: runs/lenet-digits/ (curves.png, metrics.json, "
                            "history.csv, model.keras) | TensorBoard: tensorboard --logdir runs/lenet-digits/logs")
    table = zoo("runs", cwd=cwd)
    assert table.returncode == 0 and table.stderr == ""
    header, row = table.stdout.splitlines()
    assert header.split() == ["RUN", "MODEL", "DATASET", "EPOCHS", "TEST", "EXPORT"]
    assert re.fullmatch(r"runs/lenet-digits +lenet +digits +15 +accuracy 0\.\d{4}, loss 0\.\d{4} +saved_models/lenet/1",
                        row), row
    listed, = json.loads(zoo("runs", "--json", cwd=cwd).stdout)
    assert listed["finished"] and listed["export"] == "saved_models/lenet/1" and listed["epochs"] == 15


def test_a_run_that_fails_before_training_leaves_nothing_behind(tmp_path):
    done = zoo("train", "lenet_mnist", "--dataset", "digitz", "--data-dir", str(tmp_path / "data"), cwd=tmp_path)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert "No TFDS dataset named 'digitz'. Did you mean 'digits'?" in done.stderr
    assert not (tmp_path / "runs" / "lenet-digitz").exists()
    assert zoo("runs", cwd=tmp_path).returncode == 1


def test_on_a_terminal_the_run_shows_keras_live_bar_and_it_never_counts_past_the_end(tmp_path):
    """Under a pseudo-terminal, as in a user's shell: Keras' bar, whose step count stays within
    the epoch (80 iris rows / batch 16 = 5 steps) although steps_per_execution is 16."""
    import pty
    import select

    leader, follower = pty.openpty()
    process = subprocess.Popen([*ZOO, "train", "perceptron_iris", "--dataset", "iris_offline", "--epochs", "2",
                                "--batch-size", "16", "--data-dir", str(tmp_path / "data"),
                                "--export-dir", str(tmp_path / "exports")],
                               cwd=tmp_path, env=user_env(), stdin=subprocess.DEVNULL, stdout=follower,
                               stderr=follower)
    os.close(follower)
    output = b""
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        ready, _, _ = select.select([leader], [], [], 1)
        if ready:
            try:
                chunk = os.read(leader, 65536)
            except OSError:  # the terminal closed: the process has exited
                break
            if not chunk:
                break
            output += chunk
        elif process.poll() is not None:
            break
    os.close(leader)
    assert process.wait(timeout=60) == 0, output.decode(errors="replace")[-2000:]
    text = output.decode(errors="replace")
    assert "Epoch 2/2" in text and "\r" in text  # Keras' live bar, redrawn in place
    steps = [int(n) for n in re.findall(r"(?<![\d/])(\d+)/5(?!\d)", re.sub(r"\x1b\[[0-9;]*m", "", text))]
    assert steps and max(steps) == 5
    for noise in NOISE[:-2]:  # TensorFlow's lines stay out on a terminal too
        assert noise not in text
