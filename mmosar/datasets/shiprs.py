"""ShipRSImageNet (Zhang et al., JSTARS 2021): VOC-style XML with four
hierarchical class levels, horizontal and oriented boxes."""
import xml.etree.ElementTree as ET

from mmosar.registry import DATASETS

from .sar_aircraft import VOCStyleHBBDataset, xml_number

SHIPRS_CLASSES = {
    0: ('Ship', 'Dock'),
    1: ('Other Ship', 'Warship', 'Merchant', 'Dock'),
    2: ('Other Ship', 'Other Warship', 'Submarine', 'Aircraft Carrier',
        'Cruiser', 'Destroyer', 'Frigate', 'Patrol', 'Landing', 'Commander',
        'Auxiliary Ships', 'Other Merchant', 'Container Ship', 'RoRo',
        'Cargo', 'Barge', 'Tugboat', 'Ferry', 'Yacht', 'Sailboat',
        'Fishing Vessel', 'Oil Tanker', 'Hovercraft', 'Motorboat', 'Dock'),
    3: ('Other Ship', 'Other Warship', 'Submarine', 'Other Aircraft Carrier',
        'Enterprise', 'Nimitz', 'Midway', 'Ticonderoga', 'Other Destroyer',
        'Atago DD', 'Arleigh Burke DD', 'Hatsuyuki DD', 'Hyuga DD',
        'Asagiri DD', 'Other Frigate', 'Perry FF', 'Patrol', 'Other Landing',
        'YuTing LL', 'YuDeng LL', 'YuDao LL', 'YuZhao LL', 'Austin LL',
        'Osumi LL', 'Wasp LL', 'LSD 41 LL', 'LHA LL', 'Commander',
        'Other Auxiliary Ship', 'Medical Ship', 'Test Ship', 'Training Ship',
        'AOE', 'Masyuu AS', 'Sanantonio AS', 'EPF', 'Other Merchant',
        'Container Ship', 'RoRo', 'Cargo', 'Barge', 'Tugboat', 'Ferry',
        'Yacht', 'Sailboat', 'Fishing Vessel', 'Oil Tanker', 'Hovercraft',
        'Motorboat', 'Dock'),
}


@DATASETS.register_module()
class ShipRSImageNetDataset(VOCStyleHBBDataset):
    """ShipRSImageNet with the class hierarchy level chosen by ``level``.

    Each ``<object>`` carries ``<bndbox>`` (HBB), ``<polygon>`` with
    ``x1..y4`` (OBB) and the 1-based class id at each of ``<level_0>`` ...
    ``<level_3>``. The label of an instance is ``level_<level> - 1`` in
    :data:`SHIPRS_CLASSES` ``[level]`` (set as ``metainfo.classes``). The
    polygon is kept as ``instance['polygon']`` (8 floats) for OBB use.

    Layout (official VOC_Format): ``<data_root>/JPEGImages/<id>.bmp``,
    ``<data_root>/Annotations/<id>.xml``, ``ImageSets/{train,val,test}.txt``
    listing ``<id>.bmp`` per line (read as id ``<id>``).

    Args:
        level: Class hierarchy level, 0-3 (3: 50 fine-grained classes).
        **kwargs: :class:`VOCStyleHBBDataset` arguments.
    """

    METAINFO = dict(classes=SHIPRS_CLASSES[3])

    def __init__(self, *args, level: int = 3, img_suffix: str = 'bmp',
                 metainfo: dict = None, **kwargs) -> None:
        if level not in SHIPRS_CLASSES:
            raise ValueError(f'level must be 0, 1, 2 or 3, got {level!r}')
        self.level = level
        metainfo = dict(metainfo or {})
        metainfo.setdefault('classes', SHIPRS_CLASSES[level])
        if tuple(metainfo['classes']) != SHIPRS_CLASSES[level]:
            raise ValueError(
                f'ShipRSImageNet level {level} labels index '
                f'{SHIPRS_CLASSES[level]}; got classes {metainfo["classes"]}')
        super().__init__(
            *args, img_suffix=img_suffix, metainfo=metainfo, **kwargs)

    def class_name(self, obj: ET.Element, where: str) -> str:
        """Class name from the 1-based id in ``<level_N>``."""
        index = xml_number(obj, f'level_{self.level}', where)
        names = SHIPRS_CLASSES[self.level]
        if index != int(index) or not 1 <= index <= len(names):
            raise ValueError(f'{where}: <level_{self.level}> id {index} is '
                             f'not in 1..{len(names)}')
        return names[int(index) - 1]

    def parse_object(self, obj: ET.Element, where: str) -> dict:
        """HBB instance plus its oriented ``polygon`` (x1, y1, ..., y4)."""
        instance = super().parse_object(obj, where)
        polygon = obj.find('polygon')
        if polygon is not None:
            instance['polygon'] = [
                xml_number(polygon, f'{axis}{i}', where) for i in range(1, 5)
                for axis in 'xy'
            ]
        return instance
