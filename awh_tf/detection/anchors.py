"""SSD anchors of MediaPipe's palm detector (``SsdAnchorsCalculator`` semantics, numpy).

The palm models (``palm_detection_full/lite.tflite``, 192×192 input) were trained with anchors that
are constants of MediaPipe's graph (``palm_detection_cpu.pbtxt``): 4 layers with strides 8, 16, 16, 16,
aspect ratio 1, offset 0.5, fixed anchor size. The calculator's rules that matter here:

* a feature map of stride s has ``ceil(input / s)`` cells per side;
* consecutive layers with the same stride are merged into one grid, each layer giving one anchor per
  aspect ratio plus one for ``interpolated_scale_aspect_ratio`` (1.0) — so stride 8 gives 2 anchors per
  cell and the three stride-16 layers 6: 24²·2 + 12²·6 = 2016, the model's box count;
* anchors are ordered row, column, then anchor within the cell; the centre of cell (x, y) is
  ``((x + offset_x) / width, (y + offset_y) / height)`` in normalised [0, 1] input coordinates;
* with ``fixed_anchor_size`` every anchor has width = height = 1, so the scales only matter for models
  without it (they are not used here).
"""

import dataclasses
import math

import numpy as np


@dataclasses.dataclass(frozen=True)
class AnchorOptions:
    """The subset of ``SsdAnchorsCalculatorOptions`` a fixed-size-anchor model needs."""

    input_size: int = 192
    strides: tuple = (8, 16, 16, 16)
    num_aspect_ratios: int = 1
    interpolated_scale: bool = True  # interpolated_scale_aspect_ratio = 1.0 adds one anchor per layer
    offset: float = 0.5


PALM_ANCHORS = AnchorOptions()  # palm_detection_full and _lite alike


def ssd_anchors(options=PALM_ANCHORS):
    """Anchor centres and sizes ``[N, 4]`` float32 ``(x_centre, y_centre, w, h)``, normalised input units."""
    per_layer = options.num_aspect_ratios + int(options.interpolated_scale)
    grids, i = [], 0
    while i < len(options.strides):
        j = i
        while j < len(options.strides) and options.strides[j] == options.strides[i]:
            j += 1
        stride = options.strides[i]
        cells = math.ceil(options.input_size / stride)
        centres = (np.arange(cells) + options.offset) / cells
        y, x = np.meshgrid(centres, centres, indexing="ij")  # row-major: y outer, x inner
        xy = np.stack([x.ravel(), y.ravel()], axis=1)  # [cells², 2]
        grids.append(np.repeat(xy, per_layer * (j - i), axis=0))  # the merged layers' anchors per cell
        i = j
    xy = np.concatenate(grids)
    return np.concatenate([xy, np.ones_like(xy)], axis=1).astype(np.float32)
