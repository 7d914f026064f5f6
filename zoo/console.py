"""What the zoo's commands print: TensorFlow without its start-up noise, progress that suits
where the output goes, and the switch that brings everything back.

TensorFlow 2.21 writes lines like these to stderr on every CPU machine:

    WARNING: All log messages before absl::InitializeLog() is called are written to STDERR
    I0000 ... cudart_stub.cc:31] Could not find cuda drivers on your machine, GPU will not be used.
    E0000 ... cuda_platform.cc:52] failed call to cuInit: ... UNKNOWN ERROR (303)

Native code writes them straight to file descriptor 2, some before `TF_CPP_MIN_LOG_LEVEL` is
read, so no Python logging setting reaches them. The first two appear twice because two of
TensorFlow's extension modules, `_pywrap_tensorflow_internal.so` and
`profiler/internal/_pywrap_profiler_plugin.so` (which `import tensorflow` loads for
`tf.profiler`), each carry their own copy of Abseil's logging and of the CUDA stub, and each
copy announces itself when loaded. The `cuInit` error comes later, the first time devices are
listed.

`import_tensorflow()` therefore imports TensorFlow and lists its devices once, with descriptor 2
pointed at a temporary file, and then writes back every captured line except the known
start-up lines above: a real error during the import still reaches the user. Afterwards it
keeps TensorFlow's C++ INFO lines out (`TF_CPP_MIN_LOG_LEVEL=1`: warnings and errors still
show) and drops deprecation warnings that TensorFlow's libraries raise about each other's
calls (TFP's Gaussian process passing TFP's deprecated `jitter`): nothing the user could change.
Deprecations raised by the user's own code still show.

`ZOO_LOG_LEVEL=debug` (or `info`, or the commands' `--verbose`), or a `TF_CPP_MIN_LOG_LEVEL`
the user set, turns all of this off.

Example:
    >>> from zoo import console
    >>> tf = console.import_tensorflow()   # quiet unless ZOO_LOG_LEVEL=debug  # doctest: +SKIP
"""

from __future__ import annotations

import logging
import os
import re
import sys
import tempfile

LEVELS = ("debug", "info", "warning", "error")
# TensorFlow's start-up lines on machines without a GPU (and a GPU build's repeated factory
# registrations): facts about the build, not about this run.
_STARTUP_NOISE = re.compile(
    r"All log messages before absl::InitializeLog\(\) is called are written to STDERR"
    r"|cudart_stub\.cc:\d+\] Could not find cuda drivers"
    r"|cuda_platform\.cc:\d+\] failed call to cuInit"
    r"|cuda_executor\.cc:\d+\] .*(?:kernel driver|NUMA node)"
    r"|cpu_feature_guard\.cc:\d+\] This TensorFlow binary is optimized"
    r"|^To enable the following instructions: .* rebuild TensorFlow"
    r"|oneDNN custom operations are on"
    r"|Unable to register cu(?:DNN|FFT|BLAS) factory"
    r"|computation_placer\.cc:\d+\] computation placer already registered"
    r"|TF-TRT Warning: Could not find TensorRT")
_QUIETED = "ZOO_QUIETED_TENSORFLOW"  # set when the zoo chose TF_CPP_MIN_LOG_LEVEL, not the user


def log_level() -> str:
    """`ZOO_LOG_LEVEL`, lower-cased (`warning` when unset or unknown, which is reported)."""
    level = os.environ.get("ZOO_LOG_LEVEL", "warning").strip().lower() or "warning"
    if level not in LEVELS:  # a typo in an environment variable should not stop a run
        print(f"zoo: ZOO_LOG_LEVEL must be one of {', '.join(LEVELS)}. Received: {level!r}; using 'warning'.",
              file=sys.stderr)
        return "warning"
    return level


def set_verbose() -> None:
    """What `--verbose` does: everything TensorFlow prints is shown, in this process and the
    processes it starts."""
    os.environ["ZOO_LOG_LEVEL"] = "debug"


def verbose() -> bool:
    """True when the user asked to see TensorFlow's own output."""
    user_set_tf_level = "TF_CPP_MIN_LOG_LEVEL" in os.environ and _QUIETED not in os.environ
    return log_level() in ("debug", "info") or user_set_tf_level


def import_tensorflow():
    """Imports TensorFlow without its start-up noise (see the module doc) and returns it.

    Call it before anything else imports TensorFlow; once TensorFlow is imported it only
    returns the module.
    """
    if "tensorflow" in sys.modules and hasattr(sys.modules["tensorflow"], "config"):
        return sys.modules["tensorflow"]
    if verbose():
        import tensorflow as tf

        return tf
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "1")
    os.environ[_QUIETED] = "1"
    with tempfile.TemporaryFile() as captured:
        sys.stderr.flush()
        saved = os.dup(2)
        os.dup2(captured.fileno(), 2)
        try:
            import tensorflow as tf

            tf.config.list_physical_devices()  # where the cuInit line is written
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            captured.seek(0)
            kept = [line for line in captured.read().decode("utf-8", "replace").splitlines(keepends=True)
                    if not _STARTUP_NOISE.search(line)]
            sys.stderr.write("".join(kept))
            sys.stderr.flush()
    logging.getLogger("tensorflow").addFilter(_library_deprecations)
    return tf


_LIBRARIES = tuple(os.sep + name + os.sep for name in
                   ("tensorflow", "tensorflow_probability", "keras", "tf_keras", "tensorflow_datasets"))


def _library_deprecations(record: logging.LogRecord) -> bool:
    """False (drop) for TensorFlow's deprecation warnings about a call made inside one of the
    libraries (`From .../tensorflow_probability/...: calling X (from Y) with jitter is
    deprecated`); those about the user's own calls pass."""
    message = record.getMessage()
    if "deprecated" not in message or not message.startswith("From "):
        return True
    caller = message[5:].split(":", 1)[0]
    return not any(part in caller for part in _LIBRARIES)


def is_terminal(stream=None) -> bool:
    """True when `stream` (stdout) shows a live progress bar: a terminal or a notebook."""
    stream = stream or sys.stdout
    if "ipykernel" in sys.modules:
        return True
    return bool(getattr(stream, "isatty", lambda: False)())
