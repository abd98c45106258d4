"""Procedural two-domain hand data written in the exact RHD and STB formats (DESIGN.md §5).

``generate(out_dir)`` writes ``out_dir/RHD_published_v2`` (the synthetic domain) and ``out_dir/STB``
(the real-looking domain) so that the same loaders read generated and real data; from the shell:
``python -m awh_tf.data.procedural --out_dir DIR``. The real-looking domain can also be written in
FreiHAND's layout (``freihand_layout``, ``--layout freihand``) and, converted from it, as COCO-style hand
keypoint JSON (``coco_layout``, ``--layout coco``): the 2D-only real domains.

Modules, in the order a frame is made: ``hand_model`` (kinematic hand), ``primitives`` (its quadric
body), ``scene`` (orientation and placement), ``renderer`` (z-buffer ray casting, visibility),
``domains`` (the nuisances that differ between the domains), ``frames`` (one frame of each domain),
``writers`` (the file formats), ``generation`` (parallel writing and the completion manifest);
``freihand_layout`` and ``coco_layout`` (the 2D-only real domains' layouts, each with its own manifest).
"""

from awh_tf.data.procedural.generation import (DEMO_RHD_EVAL, DEMO_RHD_TRAIN, DEMO_STB_FRAMES, MANIFEST,
                                             generate, is_complete, read_manifest)
from awh_tf.data.procedural.writers import RHD_ROOT, STB_ROOT, STB_SEQUENCES

__all__ = ["generate", "is_complete", "read_manifest", "MANIFEST", "DEMO_RHD_TRAIN", "DEMO_RHD_EVAL",
           "DEMO_STB_FRAMES", "RHD_ROOT", "STB_ROOT", "STB_SEQUENCES"]
