"""HRSC2016 ship dataset: one XML per image with rotated boxes
``mbox_cx, mbox_cy, mbox_w, mbox_h, mbox_ang`` (angle in radians, the same
clockwise-in-image convention as ``RotatedBoxes``)."""
import xml.etree.ElementTree as ET
from typing import List, Optional, Tuple

import torch

from mmosar.registry import DATASETS
from mmosar.structures.bbox import rbox2qbox

from .xml_rotated import (
    RotatedXMLDataset,
    xml_int_or_default,
    xml_number,
    xml_text,
)

HRSC_CLASSES = ('ship', 'aircraft carrier', 'warcraft', 'merchant ship',
                'Nimitz', 'Enterprise', 'Arleigh Burke', 'WhidbeyIsland',
                'Perry', 'Sanantonio', 'Ticonderoga', 'Kitty Hawk',
                'Kuznetsov', 'Abukuma', 'Austen', 'Tarawa', 'Blue Ridge',
                'Container', 'OXo|--)', 'Car carrier([]==[])', 'Hovercraft',
                'yacht', 'CntShip(_|.--.--|_]=', 'Cruise', 'submarine', 'lute',
                'Medical', 'Car carrier(======|', 'Ford-class', 'Midway-class',
                'Invincible-class')
# HRSC2016 Class_ID of each class above: '1000000' + two digits (21 and 23
# are not used by the dataset).
HRSC_CLASS_IDS = tuple(
    f'1000000{i:02d}' for i in list(range(1, 21)) + [22] + list(range(24, 34)))

_SHIP_METAINFO = dict(classes=('ship', ), palette=[(0, 200, 255)])
_CLASSWISE_METAINFO = dict(
    classes=HRSC_CLASSES,
    palette=[(int(37 * i) % 256, int(97 * i + 60) % 256,
              int(151 * i + 120) % 256) for i in range(len(HRSC_CLASSES))])


@DATASETS.register_module()
class HRSCDataset(RotatedXMLDataset):
    """HRSC2016.

    Typical layout: ``data_root='data/hrsc/FullDataSet/'``,
    ``ann_file='ImageSets/trainval.txt'``,
    ``data_prefix=dict(img_path='AllImages', ann_path='Annotations')``,
    ``img_suffix='bmp'``.

    Args:
        classwise: False (default): every object is one class ``ship`` (the
            usual HRSC2016 task). True: the 31 classes of the HRSC class
            hierarchy, each object labelled with its ``Class_ID`` (ship,
            its 3 categories and their 27 ship types).
        **kwargs: :class:`RotatedXMLDataset` arguments.
    """

    METAINFO = _SHIP_METAINFO

    def __init__(self,
                 *args,
                 classwise: bool = False,
                 img_suffix: str = 'bmp',
                 metainfo: Optional[dict] = None,
                 **kwargs) -> None:
        self.classwise = classwise
        merged = dict(_CLASSWISE_METAINFO if classwise else _SHIP_METAINFO)
        merged.update(metainfo or {})
        super().__init__(
            *args, img_suffix=img_suffix, metainfo=merged, **kwargs)

    def parse_annotation(self, root: ET.Element,
                         xml_path: str) -> Tuple[int, int, List[dict]]:
        """Image size and instances of an HRSC2016 XML file."""
        width = int(xml_number(root, 'Img_SizeWidth', xml_path))
        height = int(xml_number(root, 'Img_SizeHeight', xml_path))
        objects = root.findall('HRSC_Objects/HRSC_Object')
        rboxes, labels, difficulties = [], [], []
        for k, obj in enumerate(objects):
            where = f'{xml_path} (HRSC_Object #{k + 1})'
            label = self._object_label(obj, where)
            if label is None:
                continue
            rboxes.append([
                xml_number(obj, tag, where)
                for tag in ('mbox_cx', 'mbox_cy', 'mbox_w', 'mbox_h',
                            'mbox_ang')
            ])
            labels.append(label)
            difficulties.append(xml_int_or_default(obj, 'difficult', where))
        if not rboxes:
            return width, height, []
        polygons = rbox2qbox(torch.tensor(rboxes, dtype=torch.float64))
        instances = [
            self.make_instance(polygon, label, difficulty) for polygon, label,
            difficulty in zip(polygons.tolist(), labels, difficulties)
        ]
        return width, height, instances

    def _object_label(self, obj: ET.Element, where: str) -> Optional[int]:
        if not self.classwise:
            return 0
        class_id = xml_text(obj, 'Class_ID', where)
        if class_id not in HRSC_CLASS_IDS:
            return self.class_label(f'Class_ID {class_id}', where)
        return self.class_label(HRSC_CLASSES[HRSC_CLASS_IDS.index(class_id)],
                                where)
