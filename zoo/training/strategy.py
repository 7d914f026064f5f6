"""Choosing the `tf.distribute` strategy: one place decides, for every recipe.

`auto` picks what TensorFlow's distributed-training guide recommends for the hardware:
MultiWorkerMirroredStrategy when `TF_CONFIG` describes a cluster, MirroredStrategy on several
GPUs, OneDeviceStrategy on one GPU, and the default (no-op) strategy on a CPU-only machine,
where mirroring over one device would only add overhead.
"""

from __future__ import annotations

import os

from zoo import console

tf = console.import_tensorflow()

from zoo.training.config import STRATEGIES


def split_cpu(devices: int) -> None:
    """Splits the CPU into `devices` logical devices, so `mirrored` has replicas without GPUs.

    The logical devices share the same cores: this shows distributed training is correct, not
    that it is faster. Must run before TensorFlow first uses a device.

    Example:
        >>> split_cpu(2)  # doctest: +SKIP
        >>> len(tf.config.list_logical_devices("CPU"))  # doctest: +SKIP
        2
    """
    cpu = tf.config.list_physical_devices("CPU")[0]
    wanted = [tf.config.LogicalDeviceConfiguration() for _ in range(devices)]
    current = tf.config.get_logical_device_configuration(cpu)
    if current is not None and len(current) == devices:
        return
    try:
        tf.config.set_logical_device_configuration(cpu, wanted)
    except RuntimeError as error:
        raise RuntimeError(
            f"Cannot split the CPU into {devices} logical devices: TensorFlow has already "
            f"initialised its devices ({len(tf.config.list_logical_devices('CPU'))} CPU device(s)). "
            "Set `cpu_devices` before anything else runs TensorFlow (a fresh process).") from error


def select_strategy(name: str = "auto") -> tf.distribute.Strategy:
    """The strategy named `name` (one of `STRATEGIES`), with `auto` resolved for this machine.

    `mirrored` mirrors over all GPUs, or over all logical CPU devices when there is no GPU.

    Example:
        >>> select_strategy("default").num_replicas_in_sync
        1
    """
    if name not in STRATEGIES:
        raise ValueError(f"`strategy` must be one of {', '.join(STRATEGIES)}. Received: strategy={name!r}")
    if name == "multi_worker" or (name == "auto" and os.environ.get("TF_CONFIG")):
        # First: it configures collective ops, which must happen before TensorFlow starts its
        # runtime (listing devices below would start it).
        return tf.distribute.MultiWorkerMirroredStrategy()
    gpus = tf.config.list_logical_devices("GPU")
    if name == "auto":
        if len(gpus) > 1:
            name = "mirrored"
        elif len(gpus) == 1:
            name = "one_device"
        else:
            name = "default"
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "one_device":
        return tf.distribute.OneDeviceStrategy(gpus[0].name if gpus else "/cpu:0")
    if name == "mirrored":
        devices = gpus or tf.config.list_logical_devices("CPU")
        return tf.distribute.MirroredStrategy([device.name for device in devices])
    raise AssertionError(name)  # every name in STRATEGIES is handled above


def strategy_name(strategy: tf.distribute.Strategy) -> str:
    """A short description for logs: class name and replica count."""
    name = (type(strategy).__name__.lstrip("_").replace("DefaultDistributionStrategy", "default strategy")
            .replace("CollectiveAllReduceStrategy", "MultiWorkerMirroredStrategy"))  # its public name
    replicas = strategy.num_replicas_in_sync
    return f"{name} ({replicas} replica{'s' if replicas > 1 else ''})"
