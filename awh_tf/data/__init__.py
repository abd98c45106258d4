"""Datasets: the RHD (synthetic), STB, FreiHAND and COCO-style hand (real) loaders, the procedural generator
and the input pipeline.

The loaders return samples in one format (see `RHDDataset` / `STBDataset` / `FreiHANDDataset` /
`CocoHandDataset`) and raise
`DataError` (a ValueError with a one-line message naming the file and sample index) for bad input on disk.
"""

from awh_tf.data.coco import CocoHandDataset
from awh_tf.data.errors import DataError
from awh_tf.data.freihand import FreiHANDDataset
from awh_tf.data.rhd import RHDDataset
from awh_tf.data.stb import STB_TEST_SEQUENCES, STB_TRAIN_SEQUENCES, STBDataset

__all__ = ["CocoHandDataset", "DataError", "FreiHANDDataset", "RHDDataset", "STBDataset", "STB_TRAIN_SEQUENCES",
           "STB_TEST_SEQUENCES"]
