"""`ModelManager`: the models and versions a server holds, as TensorFlow Serving manages them.

Every directory under the base path is a model and every integer-named directory inside it a
version (the layout `zoo.export` writes and TF Serving reads). The version policy is TF
Serving's default, the latest `num_versions` (1). A version is loaded with
`tf.saved_model.load`, its `assets.extra/tf_serving_warmup_requests` are replayed, and only
then is it AVAILABLE and used; `poll()` (every second in a server, on a background thread)
loads new versions and unloads removed or superseded ones without a restart. A request holds
its `Servable` for its whole life, so requests in flight while a version is swapped out
finish on the version they started with.

What appears on disk never takes a model offline (TF Serving's promise): a version still being
copied in, or broken, fails to load and the last good version keeps serving; the failure is
logged once and reported by the status API, and the version is tried again when its directory
changes. Unreadable directories keep what is loaded; only ASCII integer names are versions
(`zoo.layout`).

Example:
    >>> manager = ModelManager("saved_models")  # doctest: +SKIP
    >>> manager.poll()  # doctest: +SKIP
    >>> manager.lookup("lenet").signature("serving_default")  # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import os
import threading
import time
from pathlib import Path
from typing import Any

from zoo.layout import DEFAULT_SIGNATURE, is_model_name, list_versions, warmup_path
from zoo.serving.errors import InvalidArgument, NotFound, Unavailable

log = logging.getLogger("zoo.serving")

MAX_WARMUP_RECORDS = 1000  # TF Serving's limit too
MAX_RETRY_DELAY_S = 30.0  # the longest back-off between two loads of a version that failed


@dataclasses.dataclass(frozen=True)
class _Attempt:
    """A failed load: the directory as it was then, when to try again, how many failures."""

    fingerprint: tuple | None
    retry_at: float
    failures: int


def _fingerprint(path: Path) -> tuple:
    """Every file and directory under `path` with its size and modification time: it changes
    while a copy is being written, and when a broken version is repaired."""
    def fail(error: OSError):
        raise error

    entries = []
    for root, dirs, files in os.walk(path, onerror=fail):
        for entry in (root, *(os.path.join(root, f) for f in files)):
            stat = os.stat(entry)
            entries.append((os.path.relpath(entry, path), stat.st_size, stat.st_mtime_ns))
    return tuple(sorted(entries))


@dataclasses.dataclass
class Servable:
    """One loaded (or failed) version of a model."""

    name: str
    version: int
    path: Path
    state: str = "START"
    error: str = ""
    loaded: Any = dataclasses.field(default=None, repr=False)
    _batchers: dict = dataclasses.field(default_factory=dict, repr=False)
    _batchers_lock: Any = dataclasses.field(default_factory=threading.Lock, repr=False)

    @functools.cached_property
    def signatures(self) -> dict[str, Any]:
        """{name: concrete function}, read once (a hot path: every request looks one up)."""
        return dict(self.loaded.signatures) if self.loaded is not None else {}

    def signature(self, name: str | None):
        """The concrete function of signature `name` (default: serving_default)."""
        name = name or DEFAULT_SIGNATURE
        signatures = self.signatures
        if name not in signatures:
            raise InvalidArgument(f"Serving signature name: {name!r} not found in signature def. "
                                  f"Available: {', '.join(sorted(signatures))}")
        return signatures[name]

    def predict(self, signature_name: str | None, inputs: dict[str, Any], *, batching=None,
                timeout_s: float | None = None) -> dict[str, Any]:
        """Runs a signature on checked inputs: directly, or through this version's batcher
        when `batching` (a `BatchingOptions`) is given. Blocks until the outputs are ready."""
        future = self.submit(signature_name, inputs, batching) if batching is not None else None
        if future is None:
            return call_signature(self.signature(signature_name), inputs)
        from zoo.serving.batching import wait

        return wait(future, timeout_s)

    def submit(self, signature_name: str | None, inputs: dict[str, Any], batching, loop=None):
        """Queues inputs on this version's batcher for the signature; returns a future (an
        asyncio one of `loop` when given), or None when the version is being unloaded (then call
        the signature directly: a request that found this version before it was unloaded still
        gets its answer)."""
        from zoo.serving import metrics
        from zoo.serving.batching import Batcher

        function = self.signature(signature_name)
        key = signature_name or DEFAULT_SIGNATURE
        with self._batchers_lock:
            if self.state != "AVAILABLE":
                return None
            if key not in self._batchers:
                observe = metrics.BATCH_SIZE.labels(self.name).observe
                self._batchers[key] = Batcher(lambda merged: call_signature(function, merged), batching,
                                              observe, f"{self.name}-{self.version}")
            batcher = self._batchers[key]
        try:
            return batcher.submit(inputs, loop)
        except Unavailable:  # unloaded between the check and now
            return None

    def close(self) -> None:
        """Marks the version unloaded; its batchers finish what is queued, then stop."""
        with self._batchers_lock:
            self.state = "END"
            for batcher in self._batchers.values():
                batcher.close()

    def signature_def_map(self):
        """The SavedModel's signature defs as TF Serving's `SignatureDefMap` proto (read once)."""
        return self._signature_def_map

    @functools.cached_property
    def _signature_def_map(self):
        from tensorflow.core.protobuf import saved_model_pb2
        from tensorflow_serving.apis import get_model_metadata_pb2

        saved = saved_model_pb2.SavedModel.FromString((self.path / "saved_model.pb").read_bytes())
        graph = next((g for g in saved.meta_graphs if "serve" in g.meta_info_def.tags), saved.meta_graphs[0])
        result = get_model_metadata_pb2.SignatureDefMap()
        for key, value in graph.signature_def.items():
            if not key.startswith("__"):  # TF's internal `__saved_model_init_op`
                result.signature_def[key].CopyFrom(value)
        return result


@dataclasses.dataclass(frozen=True)
class VersionPolicy:
    """Which versions to serve, as TF Serving's `model_version_policy`."""

    kind: str = "latest"  # "latest" (the newest `num_versions`), "all", or "specific"
    num_versions: int = 1
    versions: tuple[int, ...] = ()

    def select(self, on_disk: list[int]) -> set[int]:
        if self.kind == "all":
            return set(on_disk)
        if self.kind == "specific":
            return set(on_disk) & set(self.versions)
        return set(sorted(on_disk)[-self.num_versions:])


@dataclasses.dataclass(frozen=True)
class ModelSource:
    """One model to serve: its name, the directory of its versions, policy and labels."""

    name: str
    base_path: Path
    policy: VersionPolicy = VersionPolicy()
    labels: tuple[tuple[str, int], ...] = ()


def read_model_config(path: str | os.PathLike) -> list[ModelSource]:
    """The models of a TF Serving model config file (text-format `ModelServerConfig`).

    Relative `base_path`s are taken relative to the file's directory.

    Example:
        >>> read_model_config("models.config")  # doctest: +SKIP
        [ModelSource(name='lenet', base_path=PosixPath('/srv/models/lenet'), ...)]
    """
    from google.protobuf import text_format
    from tensorflow_serving.config import model_server_config_pb2

    path = Path(path)
    try:
        config = text_format.Parse(path.read_text(), model_server_config_pb2.ModelServerConfig())
    except OSError as error:
        raise FileNotFoundError(f"Cannot read the model config file {str(path)!r}: {error.strerror}") from None
    except text_format.ParseError as error:
        raise ValueError(f"{path}: not a TF Serving model config (text-format ModelServerConfig): {error}") from None
    sources = []
    for entry in config.model_config_list.config:
        check_model_name(entry.name)
        if entry.model_platform not in ("", "tensorflow"):
            raise ValueError(f"{path}: model {entry.name!r} has model_platform {entry.model_platform!r}; "
                             "only 'tensorflow' SavedModels are served.")
        choice = entry.model_version_policy.WhichOneof("policy_choice")
        if choice == "all":
            policy = VersionPolicy("all")
        elif choice == "specific":
            policy = VersionPolicy("specific", versions=tuple(entry.model_version_policy.specific.versions))
        else:
            policy = VersionPolicy("latest", entry.model_version_policy.latest.num_versions or 1)
        base = Path(entry.base_path)
        sources.append(ModelSource(entry.name, base if base.is_absolute() else path.parent / base, policy,
                                   tuple(sorted(entry.version_labels.items()))))
    if not sources:
        raise ValueError(f"{path}: the model_config_list names no models.")
    names = [source.name for source in sources]
    if len(set(names)) != len(names):
        raise ValueError(f"{path}: model names must be unique. Received: {names}")
    return sources


class ModelManager:
    """Loads, serves and reloads the versions of every model under `base_path`, or of the
    models a TF Serving model config names (`models`, from `read_model_config`).

    Args:
        base_path: the directory of model directories (`saved_models`).
        num_versions: how many of the latest versions of each model to serve.
        labels: optional {model: {label: version}} (version labels, as TF Serving's config).
        models: explicit `ModelSource`s instead of every directory under `base_path`.
    """

    def __init__(self, base_path: str | os.PathLike | None = None, *, num_versions: int = 1,
                 labels: dict[str, dict[str, int]] | None = None, models: list[ModelSource] | None = None):
        if not isinstance(num_versions, int) or num_versions < 1:
            raise ValueError(f"`num_versions` must be an integer >= 1. Received: num_versions={num_versions!r}")
        if (base_path is None) == (models is None):
            raise ValueError("Pass either `base_path` (serve every model under it) or `models`, not both.")
        self.base_path = Path(base_path) if base_path is not None else None
        if self.base_path is not None and not self.base_path.is_dir():
            raise FileNotFoundError(f"Model base path {str(self.base_path)!r} is not a directory. Export a "
                                    "model there first (e.g. python recipes/lenet_mnist.py --dataset digits).")
        self.sources = list(models or [])
        self.policy = VersionPolicy("latest", num_versions)
        self.labels = {name: dict(versions) for name, versions in (labels or {}).items()}
        for source in self.sources:
            self.labels.setdefault(source.name, {}).update(dict(source.labels))
        self._servables: dict[str, dict[int, Servable]] = {}
        self._attempts: dict[tuple[str, int], _Attempt] = {}  # failed loads: when to try again
        self._pending: dict[tuple[str, int], tuple] = {}  # fingerprints at the last poll
        self._notes: dict[tuple, str] = {}  # conditions logged once
        self._polled = False
        self._interval_s = 1.0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- what is on disk -------------------------------------------------------------------
    def _models_on_disk(self) -> list[ModelSource] | None:
        """The models to serve as the disk is now; None when the base path cannot be listed."""
        if self.base_path is None:
            return self.sources
        try:
            entries = sorted(os.scandir(self.base_path), key=lambda entry: entry.name)
        except OSError as error:
            self._note(("base",), f"Cannot list the model base path {str(self.base_path)!r} ({error.strerror}); "
                                  "keeping every loaded model until it is readable again.")
            return None
        self._note(("base",), None)
        return [ModelSource(entry.name, Path(entry.path), self.policy) for entry in entries
                if is_model_name(entry.name) and entry.is_dir()]

    def _scan(self, source: ModelSource) -> tuple[set[int], set[int]] | None:
        """(versions present on disk, versions complete enough to load) of one model; None
        when its directory cannot be listed. A version directory that cannot be read is
        present (so a loaded copy keeps serving) but not loadable, and is logged once."""
        try:
            present = list_versions(source.base_path)
        except OSError as error:
            self._note((source.name,), f"Cannot list {str(source.base_path)!r} ({error.strerror}); keeping the "
                                       f"loaded versions of {source.name} until it is readable again.")
            return None
        self._note((source.name,), None)
        loadable = set()
        for version, path in present.items():
            try:
                complete = (path / "saved_model.pb").is_file()
            except OSError as error:  # e.g. a version directory without read or search permission
                self._note((source.name, version, "read"), f"Skipping {str(path)!r}: cannot read it "
                                                           f"({error.strerror}).")
                continue
            self._note((source.name, version, "read"), None)
            if complete:
                loadable.add(version)
        return set(present), loadable

    def _note(self, key: tuple, message: str | None) -> None:
        """Logs a condition once when it starts (or changes), not at every poll; None ends it."""
        if message is None:
            self._notes.pop(key, None)
        elif self._notes.get(key) != message:
            self._notes[key] = message
            log.warning("%s", message)

    def poll(self) -> dict[str, list[str]]:
        """Brings the served versions in line with the disk; returns what changed.

        New wanted versions are loaded and warmed up before they are published; a version that
        is being copied in is loaded once its directory has stopped changing. The versions they
        replace (superseded under the latest-N policy) are unloaded only once the new ones
        serve, so a version that fails to load leaves the last good one serving; it is tried
        again when its directory changes, with a back-off between attempts. Versions removed
        from disk are unloaded. A directory that cannot be read keeps what is loaded.
        """
        changes: dict[str, list[str]] = {"loaded": [], "unloaded": [], "failed": []}
        models = self._models_on_disk()
        if models is None:
            return changes
        first_poll, self._polled = not self._polled, True
        seen = set()
        for source in models:
            seen.add(source.name)
            scan = self._scan(source)
            if scan is not None:
                self._poll_model(source, *scan, first_poll, changes)
        with self._lock:  # models whose directory is gone (or no longer named in the config)
            gone = [name for name in self._servables if name not in seen]
        for name in gone:
            self._poll_model(ModelSource(name, Path(), self.policy), set(), set(), first_poll, changes)
        for kind, items in changes.items():
            if items:
                log.info("%s: %s", kind, ", ".join(items))
        return changes

    def _poll_model(self, source: ModelSource, present: set[int], loadable: set[int], first_poll: bool,
                    changes: dict[str, list[str]]) -> None:
        name = source.name
        with self._lock:
            current = dict(self._servables.get(name, {}))
        tried: set[int] = set()

        def load(versions) -> None:  # each version at most once a poll
            for version in sorted(versions, reverse=True):  # the newest first: it is the one served
                servable = current.get(version)
                if version in tried or (servable is not None and servable.state == "AVAILABLE"):
                    continue
                tried.add(version)
                path = source.base_path / str(version)
                if not self._should_try(name, version, path, first_poll):
                    continue
                servable = current[version] = self._load(name, version, path)
                with self._lock:
                    self._servables.setdefault(name, {})[version] = servable
                (changes["loaded"] if servable.state == "AVAILABLE" else changes["failed"]).append(f"{name}/{version}")

        # A loaded version whose directory turned unreadable is still a version on disk.
        candidates = sorted(loadable | {v for v, s in current.items() if s.state == "AVAILABLE" and v in present})
        ideal = source.policy.select(candidates)  # what would serve if every version loaded
        load(ideal)
        # Versions that failed (and have not changed since) make way for the next older ones,
        # so a broken newest version, even at start-up, leaves the one before it serving.
        usable = [v for v in candidates if (name, v) not in self._attempts
                  or (v in current and current[v].state == "AVAILABLE")]
        wanted = source.policy.select(usable)
        load(wanted)
        available = sorted(v for v, s in current.items() if s.state == "AVAILABLE")
        serving = set(wanted) & set(available)
        # Until every wanted version serves, the newest others that serve stand in for the
        # missing ones (TF Serving's availability-preserving policy), even a version removed
        # from disk: its model is in memory. With no version left on disk, nothing is wanted.
        missing = len(wanted) - len(serving)
        if missing > 0:
            serving |= set([v for v in available if v not in wanted][-missing:])
        # Failed versions that would serve if they loaded stay listed, with their error.
        keep = serving | {v for v, s in current.items() if s.state != "AVAILABLE" and v in ideal}
        with self._lock:
            servables = self._servables.get(name, {})
            for version in sorted(set(servables) - keep):
                servable = servables.pop(version)
                if servable.state == "AVAILABLE":
                    servable.close()
                    changes["unloaded"].append(f"{name}/{version}")
            if name in self._servables and not self._servables[name]:
                del self._servables[name]
        for key in [key for key in self._attempts if key[0] == name and key[1] not in ideal]:
            del self._attempts[key]  # superseded or removed: forget its failures
        for key in [key for key in self._pending if key[0] == name and key[1] not in set(ideal) | set(wanted)]:
            del self._pending[key]

    def _should_try(self, name: str, version: int, path: Path, first_poll: bool) -> bool:
        """Whether to (re)load a wanted version now. A version met for the first time is loaded
        once its directory looks the same at two polls in a row (a copy has stopped writing;
        at start-up, at once). After a failed load it is tried again only when its directory
        has changed since, and no sooner than a back-off that doubles with each failure."""
        key = (name, version)
        try:
            fingerprint = _fingerprint(path)
        except OSError as error:  # e.g. its variables/ without read permission
            self._note((*key, "walk"), f"Skipping {str(path)!r}: cannot read all of it ({error.strerror}: "
                                       f"{error.filename}).")
            return False
        self._note((*key, "walk"), None)
        previous, self._pending[key] = self._pending.get(key), fingerprint
        attempt = self._attempts.get(key)
        if attempt is None:
            return first_poll or previous == fingerprint
        return (fingerprint != attempt.fingerprint and previous == fingerprint
                and time.monotonic() >= attempt.retry_at)

    def _load(self, name: str, version: int, path: Path) -> Servable:
        import tensorflow as tf

        servable = Servable(name, version, path, state="LOADING")
        key = (name, version)
        fingerprint = self._pending.get(key)
        try:
            servable.loaded = tf.saved_model.load(str(servable.path))
            replay_warmup(servable)
            servable.state = "AVAILABLE"
        except Exception as error:  # a broken version must not take the server down
            servable.state, servable.error, servable.loaded = "END", _load_error(error), None
            failures = self._attempts[key].failures + 1 if key in self._attempts else 1
            delay = min(MAX_RETRY_DELAY_S, self._interval_s * 2 ** (failures - 1))
            self._attempts[key] = _Attempt(fingerprint, time.monotonic() + delay, failures)
            log.error("Failed to load %s version %d from %s: %s. It is tried again when its directory changes; "
                      "meanwhile the newest version that loads serves.", name, version, path, servable.error)
        else:
            self._attempts.pop(key, None)
        return servable

    # -- background polling ----------------------------------------------------------------
    def start(self, interval_s: float = 1.0) -> None:
        """Polls now, then every `interval_s` seconds on a daemon thread until `stop()`."""
        self._interval_s = interval_s
        self.poll()

        def loop():
            while not self._stop.wait(interval_s):
                try:
                    self.poll()
                except Exception as error:  # e.g. a directory removed mid-scan: try again next time
                    self._note(("poll",), f"Polling {self.base_path or 'the model config'} failed: "
                                          f"{type(error).__name__}: {error}")
                else:
                    self._note(("poll",), None)

        self._thread = threading.Thread(target=loop, name="zoo-serving-poll", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)

    # -- lookups ---------------------------------------------------------------------------
    def model_names(self) -> list[str]:
        with self._lock:
            return sorted(self._servables)

    def has_model(self, name: str | None) -> bool:
        """Whether `name` is a model this manager serves (cheaper than `model_names`)."""
        with self._lock:
            return name in self._servables

    def lookup(self, name: str, version: int | None = None, label: str | None = None) -> Servable:
        """The AVAILABLE servable for a request: the latest version, a specific one, or a label's."""
        check_model_name(name)
        request = (f"Specific({name}, {version})" if version is not None
                   else f"Labeled({name}, {label})" if label is not None else f"Latest({name})")
        if label is not None:
            version = self._label_version(name, label)
        with self._lock:
            available = {v: s for v, s in self._servables.get(name, {}).items() if s.state == "AVAILABLE"}
        if not available or (version is not None and version not in available):
            raise NotFound(f"Servable not found for request: {request}")
        return available[max(available) if version is None else version]

    def _label_version(self, name: str, label: str) -> int:
        versions = self.labels.get(name, {})
        if label not in versions:
            raise NotFound(f"Unrecognized servable version label: {label} (model {name}; known labels: "
                           f"{', '.join(sorted(versions)) or 'none'})")
        return versions[label]

    def status(self, name: str, version: int | None = None, label: str | None = None):
        """TF Serving's `GetModelStatusResponse` for a model (all its versions, or one)."""
        from tensorflow_serving.apis import get_model_status_pb2

        check_model_name(name)
        if label is not None:
            version = self._label_version(name, label)
        with self._lock:
            servables = dict(self._servables.get(name, {}))
        if not servables:
            raise NotFound(f"Could not find any versions of model {name}")
        if version is not None:
            if version not in servables:
                raise NotFound(f"Could not find version {version} of model {name}")
            servables = {version: servables[version]}
        response = get_model_status_pb2.GetModelStatusResponse()
        for v, servable in sorted(servables.items()):
            entry = response.model_version_status.add()
            entry.version = v
            entry.state = get_model_status_pb2.ModelVersionStatus.State.Value(servable.state)
            entry.status.SetInParent()  # TF Serving always sends a status: OK unless the load failed
            if servable.error:
                entry.status.error_code = 13  # INTERNAL: the load failed
                entry.status.error_message = servable.error
        return response


def check_model_name(name: str) -> None:
    """Model names are plain directory names: no path separators, no leading dot."""
    if not is_model_name(name):
        shown = name if not isinstance(name, str) or len(name) <= 80 else f"{name[:80]}... ({len(name):,} characters)"
        raise InvalidArgument(f"Invalid model name {shown!r}: a model name is a plain directory name "
                              "(letters, digits, '_', '.', '-'; not starting with '.').")


def replay_warmup(servable: Servable) -> int:
    """Runs the export's TF Serving warm-up requests (PredictionLogs) once; returns how many."""
    import tensorflow as tf
    from tensorflow_serving.apis import prediction_log_pb2

    path = warmup_path(servable.path)
    if not path.exists():
        return 0
    count = 0
    for record in tf.data.TFRecordDataset(str(path)).take(MAX_WARMUP_RECORDS):
        log_entry = prediction_log_pb2.PredictionLog.FromString(record.numpy())
        request = log_entry.predict_log.request
        function = servable.signature(request.model_spec.signature_name or None)
        function(**{key: tf.constant(tf.make_ndarray(value)) for key, value in request.inputs.items()})
        count += 1
    return count


def call_signature(function, inputs: dict[str, Any]) -> dict[str, Any]:
    """Runs a signature on checked NumPy inputs; returns NumPy outputs. Errors the model
    raises on an input (rather than the server) become `InvalidArgument`."""
    import tensorflow as tf

    try:
        outputs = function(**{name: tf.constant(value) for name, value in inputs.items()})
    except (tf.errors.InvalidArgumentError, ValueError, TypeError) as error:
        raise InvalidArgument(f"The model rejected the input: {_error_summary(error)}") from None
    return {name: value.numpy() for name, value in outputs.items()}


def _load_error(error: Exception) -> str:
    """What made a version fail to load, in one line (TensorFlow's first line says it; its last
    is often a generic hint about devices)."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    text = f"{type(error).__name__}: {lines[0] if lines else ''}".rstrip(": ")
    if isinstance(error, FileNotFoundError):
        text += " (is the version still being copied in?)"
    return text


def _error_summary(error: Exception) -> str:
    """The line of a TensorFlow error that says what went wrong (not "Graph execution error:",
    the traceback of where the op was defined, or the node name)."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    useful = [line for line in lines if not line.startswith(("[[", "File ", "Graph execution error",
                                                             "Detected at node"))]
    summary = useful[-1] if useful else (lines[0] if lines else type(error).__name__)
    return summary.split(" [[")[0].split(" [Op:")[0]
