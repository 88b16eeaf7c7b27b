"""DOTA with horizontal boxes: each polygon becomes its bounding rectangle."""
from typing import Sequence

import numpy as np

from mmosar.registry import DATASETS

from .dota import DOTADataset


@DATASETS.register_module()
class DOTAHBBDataset(DOTADataset):
    """DOTA (v1.0 / v1.5 / v2.0) for horizontal-box detection.

    Same files and arguments as :class:`DOTADataset`; every instance's
    ``bbox`` is ``[x_min, y_min, x_max, y_max]`` of its quadrilateral, so
    mmdet's ``LoadAnnotations`` (``box_type='hbox'``) and ``CocoMetric``
    (which reads the instances when it has no ``ann_file``) use it directly.
    """

    def make_instance(self, polygon: Sequence[float], label: int,
                      difficulty: int) -> dict:
        """Instance with the horizontal bounding box of ``polygon``."""
        instance = super().make_instance(polygon, label, difficulty)
        points = np.asarray(polygon, dtype=np.float64).reshape(4, 2)
        instance['bbox'] = [
            float(points[:, 0].min()),
            float(points[:, 1].min()),
            float(points[:, 0].max()),
            float(points[:, 1].max())
        ]
        return instance
