"""Register the hbox <-> rbox <-> qbox converters with mmdet.

After this module is imported, ``boxes.convert_to('rbox')``,
``mmdet.structures.bbox.convert_box_type`` and mmdet's
``LoadAnnotations(box_type='qbox')`` work with mmosar's box types. The
converters are the tensor functions of :mod:`.box_geometry`.
"""
from mmdet.structures.bbox import HorizontalBoxes, register_box_converter

from .box_geometry import (
    hbox2qbox,
    hbox2rbox,
    qbox2hbox,
    qbox2rbox,
    rbox2hbox,
    rbox2qbox,
)
from .quadri_boxes import QuadriBoxes
from .rotated_boxes import RotatedBoxes

for _src, _dst, _converter in (
    (HorizontalBoxes, RotatedBoxes, hbox2rbox),
    (HorizontalBoxes, QuadriBoxes, hbox2qbox),
    (RotatedBoxes, HorizontalBoxes, rbox2hbox),
    (RotatedBoxes, QuadriBoxes, rbox2qbox),
    (QuadriBoxes, HorizontalBoxes, qbox2hbox),
    (QuadriBoxes, RotatedBoxes, qbox2rbox),
):
    register_box_converter(_src, _dst, _converter, force=True)
