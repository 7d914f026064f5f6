"""The catalog contract again, under Keras' JAX backend, for every entry that runs on JAX.

Keras fixes its backend at import, so this runs test_contract.py in a separate pytest
process with KERAS_BACKEND=jax, and requires that all of it ran and passed.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import zoo
from zoo.registry import get_spec

TESTS = Path(__file__).parent
CONTRACT_TESTS = 8  # test functions in test_contract.py


@pytest.mark.timeout(900)
def test_contract_passes_for_every_jax_capable_model_under_jax():
    env = {**os.environ, "KERAS_BACKEND": "jax", "JAX_PLATFORMS": "cpu"}
    done = subprocess.run(
        [sys.executable, "-m", "pytest", str(TESTS / "test_contract.py"), "-q", "-p",
         "no:cacheprovider", "-o", "addopts=", "-W", "ignore::DeprecationWarning"],
        capture_output=True, text=True, env=env, cwd=TESTS.parent, timeout=840)
    summary = done.stdout.strip().splitlines()[-1] if done.stdout.strip() else done.stderr[-2000:]
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-2000:]
    on_jax = [n for n in zoo.list_models() if "jax" in get_spec(n).backends]
    deterministic = [n for n in on_jax if get_spec(n).deterministic]  # the export test's entries
    ensembled = [n for n in on_jax if not get_spec(n).no_ensemble]  # the ensemble test's entries
    expected = CONTRACT_TESTS * len(on_jax) - (len(on_jax) - len(deterministic)) - (len(on_jax) - len(ensembled))
    assert re.fullmatch(rf"{expected} passed(, \d+ warnings?)? in .*",
                        summary), summary


def test_contract_file_has_the_counted_number_of_tests():
    source = (TESTS / "test_contract.py").read_text()
    assert len(re.findall(r"^def test_", source, flags=re.M)) == CONTRACT_TESTS
