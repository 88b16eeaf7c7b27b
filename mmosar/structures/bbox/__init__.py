"""Rotated box structures for mmosar.

* ``RotatedBoxes`` (mmdet box type ``'rbox'``): ``(cx, cy, w, h, t)``, ``t``
  in radians, clockwise in image coordinates (y down).
* ``QuadriBoxes`` (``'qbox'``): four corners ``(x1, y1, ..., x4, y4)``.
* Converters hbox <-> rbox <-> qbox registered with mmdet, and the same as
  tensor functions (``hbox2rbox``, ``qbox2rbox``...).
* Angle conventions ``oc`` / ``le90`` / ``le135``: ``norm_angle``,
  ``regularize_rboxes``, ``RotatedBoxes.regularize_boxes``.
* Overlaps: exact ``rbbox_overlaps`` (mmcv ``box_iou_rotated``), ProbIoU
  ``rbbox_probiou`` and ``rbox2gaussian``; class-aware ``batched_rnms`` and
  ``nms_rotated_exact`` (mmcv ``nms_rotated`` signature, exact IoU).
"""
from . import box_converters  # noqa: F401,E402  (registers converters)
from .angle_conventions import ANGLE_CONVENTIONS, norm_angle, regularize_rboxes
from .box_geometry import (
                                hbox2qbox,
                                hbox2rbox,
                                points2rbox,
                                qbox2hbox,
                                qbox2rbox,
                                rbox2corners,
                                rbox2hbox,
                                rbox2qbox,
)
from .quadri_boxes import QuadriBoxes
from .rotated_boxes import RotatedBoxes
from .rotated_iou import (
                                convex_quad_intersection_areas,
                                rbbox_overlaps,
                                rbbox_probiou,
                                rbox2gaussian,
)
from .rotated_nms import batched_rnms, nms_rotated_exact

__all__ = [
    'RotatedBoxes', 'QuadriBoxes', 'ANGLE_CONVENTIONS', 'norm_angle',
    'regularize_rboxes', 'hbox2rbox', 'hbox2qbox', 'rbox2hbox', 'rbox2qbox',
    'rbox2corners', 'qbox2hbox', 'qbox2rbox', 'points2rbox', 'rbbox_overlaps',
    'rbbox_probiou', 'rbox2gaussian', 'batched_rnms', 'nms_rotated_exact',
    'convex_quad_intersection_areas'
]
