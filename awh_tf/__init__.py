"""awh-tf: Adaptive Wasserstein Hourglass for weakly supervised 3D hand pose estimation.

Pipeline, one folder a stage: ``data`` (datasets, procedural generator, tf.data) →
``geometry`` (2.5D codec) → ``models`` → ``losses`` → ``training`` → ``metrics``/evaluation → export.
"""

__version__ = "0.1.0"
