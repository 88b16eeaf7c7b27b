"""HRSSD (the SDCoNet "HRSSD-Split", from the HRRSD benchmark): 13 classes of
optical objects, COCO json annotations with horizontal boxes."""
from mmosar.registry import DATASETS

from .nwpu_vhr10 import NamedCocoDataset

HRSSD_CLASSES = ('airplane', 'baseball diamond', 'basketball court', 'bridge',
                 'crossroad', 'ground track field', 'harbor', 'parking lot',
                 'ship', 'storage tank', 'T junction', 'tennis court',
                 'vehicle')


@DATASETS.register_module()
class HRSSDDataset(NamedCocoDataset):
    """HRSSD / HRRSD in COCO format.

    The class names are those of the HRRSD paper in alphabetical order; if
    the json spells them differently (the dataset checks), pass
    ``metainfo=dict(classes=...)`` with the file's names.
    """

    METAINFO = dict(
        classes=HRSSD_CLASSES,
        palette=[(220, 20, 60), (119, 11, 32), (0, 0, 142), (0, 0, 230),
                 (106, 0, 228), (0, 60, 100), (0, 80, 100), (0, 0, 70),
                 (0, 0, 192), (250, 170, 30), (100, 170, 30), (220, 220, 0),
                 (175, 116, 175)])
