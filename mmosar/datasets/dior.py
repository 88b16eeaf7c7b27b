"""DIOR-R: 20-class rotated-box optical dataset, one VOC-like XML per image.

Each ``<object>`` has a ``<name>``, an optional ``<difficult>`` and either a
``<robndbox>`` with the four named corners (``x_left_top``, ``y_left_top``,
``x_right_top``, ... , ``y_left_bottom``) or a ``<polygon>`` with
``x1 y1 ... x4 y4``.
"""
import xml.etree.ElementTree as ET
from typing import List, Tuple

from mmosar.registry import DATASETS

from .xml_rotated import (
    RotatedXMLDataset,
    xml_int_or_default,
    xml_number,
    xml_text,
)

DIOR_CLASSES = ('airplane', 'airport', 'baseballfield', 'basketballcourt',
                'bridge', 'chimney', 'expressway-service-area',
                'expressway-toll-station', 'dam', 'golffield',
                'groundtrackfield', 'harbor', 'overpass', 'ship', 'stadium',
                'storagetank', 'tenniscourt', 'trainstation', 'vehicle',
                'windmill')

_ROBNDBOX_CORNERS = ('left_top', 'right_top', 'right_bottom', 'left_bottom')


@DATASETS.register_module()
class DIORRDataset(RotatedXMLDataset):
    """DIOR-R (rotated DIOR).

    Typical layout: ``data_root='data/DIOR/'``,
    ``ann_file='ImageSets/Main/trainval.txt'``,
    ``data_prefix=dict(img_path='JPEGImages-trainval',
    ann_path='Annotations/Oriented Bounding Boxes')``, ``img_suffix='jpg'``.

    Args:
        **kwargs: :class:`RotatedXMLDataset` arguments.
    """

    METAINFO = dict(
        classes=DIOR_CLASSES,
        palette=[
            (230, 25, 75), (60, 180, 75), (255, 225, 25), (0, 130, 200),
            (245, 130, 48), (145, 30, 180), (70, 240, 240), (240, 50, 230),
            (210, 245, 60), (250, 190, 212), (0, 128, 128), (220, 190, 255),
            (170, 110, 40), (255, 250, 200), (128, 0, 0), (170, 255, 195),
            (128, 128, 0), (255, 215, 180), (0, 0, 128), (128, 128, 128)
        ])

    def parse_annotation(self, root: ET.Element,
                         xml_path: str) -> Tuple[int, int, List[dict]]:
        """Image size and instances of a DIOR-R XML file."""
        size = root.find('size')
        if size is None:
            raise ValueError(f'{xml_path}: missing <size>')
        width = int(xml_number(size, 'width', xml_path))
        height = int(xml_number(size, 'height', xml_path))
        instances = []
        for k, obj in enumerate(root.findall('object')):
            where = f'{xml_path} (object #{k + 1})'
            label = self.class_label(xml_text(obj, 'name', where), where)
            if label is None:
                continue
            instances.append(
                self.make_instance(
                    _dior_polygon(obj, where), label,
                    xml_int_or_default(obj, 'difficult', where)))
        return width, height, instances


def _dior_polygon(obj: ET.Element, where: str) -> List[float]:
    """The 8 corner coordinates of a DIOR-R object."""
    robndbox = obj.find('robndbox')
    if robndbox is not None:
        return [
            xml_number(robndbox, f'{axis}_{corner}', where)
            for corner in _ROBNDBOX_CORNERS for axis in ('x', 'y')
        ]
    polygon = obj.find('polygon')
    if polygon is not None:
        return [
            xml_number(polygon, f'{axis}{i}', where) for i in range(1, 5)
            for axis in ('x', 'y')
        ]
    raise ValueError(f'{where}: neither <robndbox> nor <polygon> found')
