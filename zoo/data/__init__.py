"""Datasets: the bundled offline datasets, registered as real TFDS datasets.

Importing a dataset's module registers its TFDS builder, after which `tfds.load(name)`
prepares it into the data dir on first use, from data that ships inside installed packages.
"""
