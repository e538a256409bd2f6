"""Data: the built-in synthetic faces, prepared datasets, folders/archives/HF datasets, MNIST.

Everything is served as an :class:`~animegen.data.imageset.ImageSet`: uint8 ``[N, H, W, C]`` in memory.
"""
from animegen.data.sources import ImageSet, open_source

__all__ = ["ImageSet", "open_source"]
