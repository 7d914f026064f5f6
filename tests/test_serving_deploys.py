"""What an operator does to a served model directory: copy versions in with `cp`, break and
repair them, make directories unreadable, create odd names. TF Serving's promise, and ours:
the model keeps serving its last good version whatever appears on disk.

One `zoo serve` process serves the module, run without root's power to ignore permissions
(`unprivileged()`), each test on a model of its own. Every wait is bounded.
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import keras
import numpy as np
import pytest

import zoo
from zoo.export import export_model
from serving_helpers import _wait, running_server, unprivileged

MODELS = ("halfcopy", "corrupt", "lockedversion", "lockedvariables", "lockedmodel", "oddnames")
BODY = {"instances": np.zeros((1, 28, 28, 1)).tolist()}


@pytest.fixture(scope="module")
def export(tmp_path_factory) -> Path:
    """A complete lenet version directory to copy from."""
    keras.utils.set_random_seed(0)
    images = np.random.default_rng(0).uniform(0, 255, (2, 28, 28, 1)).astype("float32")
    return export_model(zoo.build("lenet"), tmp_path_factory.mktemp("export"), name="lenet", version=1,
                        input_name="images", warmup_inputs=images)


@pytest.fixture(scope="module")
def server(export, tmp_path_factory):
    base = tmp_path_factory.mktemp("deploys")
    for name in MODELS:
        shutil.copytree(export, base / name / "1")
    with running_server(base, prefix=unprivileged()) as (client, process):
        yield client, process, base
    for path in base.rglob("*"):  # give the test's chmods back, so pytest can clean up
        if path.is_dir():
            path.chmod(0o755)


def _status(client, name: str) -> dict[str, dict]:
    """{version: its status entry} from TF Serving's model status API."""
    code, answer = client.get(f"/v1/models/{name}")
    assert code == 200, answer
    return {entry["version"]: entry for entry in answer["model_version_status"]}


def _keeps_serving(client, name: str, seconds: float) -> None:
    """Predicts on `name` for `seconds`; every one must succeed."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        code, answer = client.post(f"/v1/models/{name}:predict", BODY)
        assert code == 200, answer
        time.sleep(0.05)


def _lines(process, text: str) -> int:
    return sum(text in line for line in process.output().splitlines())


def test_a_half_copied_version_fails_once_the_old_one_keeps_serving_and_the_finished_copy_loads(server, export):
    client, process, base = server
    target = base / "halfcopy" / "2"
    target.mkdir()
    shutil.copy(export / "saved_model.pb", target)  # `cp` of the graph; the variables come later
    _wait(lambda: _status(client, "halfcopy").get("2", {}).get("state") == "END", 30, "the failed load")
    status = _status(client, "halfcopy")
    assert status["1"]["state"] == "AVAILABLE"
    assert status["2"]["status"]["error_code"] != "OK" and status["2"]["status"]["error_message"]
    _keeps_serving(client, "halfcopy", 1.5)  # and nothing is retried while the directory stays as it is
    assert _lines(process, "Failed to load halfcopy version 2") == 1
    shutil.copytree(export / "variables", target / "variables")
    shutil.copytree(export / "assets.extra", target / "assets.extra")
    _wait(lambda: list(_status(client, "halfcopy")) == ["2"], 30, "version 2 to replace version 1")
    assert _status(client, "halfcopy")["2"]["state"] == "AVAILABLE"
    _keeps_serving(client, "halfcopy", 0.2)


def test_a_corrupt_version_is_reported_and_a_repair_is_loaded(server, export):
    client, process, base = server
    staging = base / "corrupt" / ".staging"
    shutil.copytree(export, staging)
    (staging / "saved_model.pb").write_bytes(b"\x00 not a SavedModel" * 100)
    staging.rename(base / "corrupt" / "2")  # a complete, atomic, but broken version
    _wait(lambda: _status(client, "corrupt").get("2", {}).get("state") == "END", 30, "the failed load")
    assert "saved_model.pb" in _status(client, "corrupt")["2"]["status"]["error_message"] or \
        _status(client, "corrupt")["2"]["status"]["error_message"]
    _keeps_serving(client, "corrupt", 1.0)
    assert _lines(process, "Failed to load corrupt version 2") == 1
    shutil.copy(export / "saved_model.pb", base / "corrupt" / "2" / "saved_model.pb")
    _wait(lambda: list(_status(client, "corrupt")) == ["2"], 30, "the repaired version 2")


def test_an_unreadable_version_is_skipped_with_one_line_and_other_versions_still_load(server, export):
    client, process, base = server
    locked = base / "lockedversion" / "3"
    shutil.copytree(export, locked)
    locked.chmod(0o000)
    shutil.copytree(export, base / "oddnames" / "7")  # another model's new version still loads meanwhile
    try:
        _wait(lambda: "7" in _status(client, "oddnames"), 30, "another model's new version")
        _keeps_serving(client, "lockedversion", 1.0)
        assert list(_status(client, "lockedversion")) == ["1"]
        assert _lines(process, f"Skipping {str(locked)!r}: cannot read it") == 1
        assert "Traceback" not in process.output()
    finally:
        locked.chmod(0o755)
    _wait(lambda: list(_status(client, "lockedversion")) == ["3"], 30, "the version, readable again")


def test_a_version_with_unreadable_variables_is_skipped_with_one_line(server, export):
    client, process, base = server
    staging = base / "lockedvariables" / ".staging"
    shutil.copytree(export, staging)
    (staging / "variables").chmod(0o000)
    staging.rename(base / "lockedvariables" / "2")
    try:
        _keeps_serving(client, "lockedvariables", 1.5)
        assert list(_status(client, "lockedvariables")) == ["1"]
        assert _lines(process, "lockedvariables/2': cannot read all of it") == 1
    finally:
        (base / "lockedvariables" / "2" / "variables").chmod(0o755)
    _wait(lambda: list(_status(client, "lockedvariables")) == ["2"], 30, "the version, readable again")


def test_an_unreadable_model_directory_keeps_what_is_loaded(server):
    client, process, base = server
    model_dir = base / "lockedmodel"
    model_dir.chmod(0o000)
    try:
        _keeps_serving(client, "lockedmodel", 1.5)
        assert _lines(process, f"Cannot list {str(model_dir)!r}") == 1
    finally:
        model_dir.chmod(0o755)
    _keeps_serving(client, "lockedmodel", 0.3)


@pytest.mark.parametrize("name", ["²", "٣", "99999999999999999999", "1 ", "+4", "0x5"])
def test_only_ascii_integer_names_are_versions(server, export, name):
    client, process, base = server
    odd = base / "oddnames" / name
    shutil.copytree(export, odd)
    try:
        before = set(_status(client, "oddnames"))
        time.sleep(0.6)  # three polls
        assert set(_status(client, "oddnames")) == before
        _keeps_serving(client, "oddnames", 0.2)
        assert "Polling" not in process.output() and "Traceback" not in process.output()
    finally:
        shutil.rmtree(odd)


def test_the_version_rule_is_ascii_decimal_int64():
    from zoo.layout import MAX_VERSION, version_of

    assert [version_of(n) for n in ("0", "12", "007", str(MAX_VERSION))] == [0, 12, 7, MAX_VERSION]
    assert [version_of(n) for n in ("²", "٣", "-1", "1.0", "", " 1", str(MAX_VERSION + 1), "1" * 30)] == [None] * 8
    assert os.sep not in "".join(MODELS)


def test_a_broken_newest_version_at_start_up_leaves_the_one_before_serving(export, tmp_path):
    base = tmp_path / "models"
    shutil.copytree(export, base / "lenet" / "1")
    (base / "lenet" / "2").mkdir()
    shutil.copy(export / "saved_model.pb", base / "lenet" / "2")  # half copied when the server starts
    with running_server(base, prefix=unprivileged()) as (client, process):
        status = _status(client, "lenet")
        assert status["1"]["state"] == "AVAILABLE" and status["2"]["state"] == "END"
        assert "still being copied in" in status["2"]["status"]["error_message"]
        _keeps_serving(client, "lenet", 0.3)
