"""HRSSD (the SDCoNet "HRSSD-Split", from the HRRSD benchmark): 13 classes of
optical objects, COCO json annotations with horizontal boxes."""
import json
import re
from typing import List, Optional

from mmengine.fileio import get_local_path

from mmosar.registry import DATASETS

from .nwpu_vhr10 import NamedCocoDataset

#: HRRSD's categories in the order of their official ids 1-13
#: (CrazyStoneonRoad/TGRS-HRRSD-Dataset README: 1 ship ... 13 parking lot).
HRSSD_CLASSES = ('ship', 'bridge', 'ground track field', 'storage tank',
                 'basketball court', 'tennis court', 'airplane',
                 'baseball diamond', 'harbor', 'vehicle', 'crossroad',
                 'T junction', 'parking lot')


def _canonical(name: str) -> str:
    """Category name without case, spaces, ``_`` or ``-``."""
    return re.sub(r'[\s_\-]+', '', name).lower()


@DATASETS.register_module()
class HRSSDDataset(NamedCocoDataset):
    """HRSSD / HRRSD in COCO format.

    Without ``metainfo=dict(classes=...)`` the class names and their order
    (the labels) are taken from the annotation file's categories, sorted by
    id, after checking that they are the 13 HRRSD categories up to spelling
    (case, spaces, ``_`` and ``-``). The default names are HRRSD's, in the
    order of its official ids (ship, bridge, ground track field, ...). Classes
    passed in ``metainfo`` must match the file exactly, in its order.

    Raises:
        ValueError: The file's categories are not the HRRSD ones (the message
            names the file and lists both).
    """

    METAINFO = dict(
        classes=HRSSD_CLASSES,
        palette=[(220, 20, 60), (119, 11, 32), (0, 0, 142), (0, 0, 230),
                 (106, 0, 228), (0, 60, 100), (0, 80, 100), (0, 0, 70),
                 (0, 0, 192), (250, 170, 30), (100, 170, 30), (220, 220, 0),
                 (175, 116, 175)])

    def __init__(self, *args, metainfo: Optional[dict] = None,
                 **kwargs) -> None:
        self.classes_from_file = not (metainfo and 'classes' in metainfo)
        super().__init__(*args, metainfo=metainfo, **kwargs)

    def load_data_list(self) -> List[dict]:
        """COCO loading with the file's class names (see the class doc)."""
        if self.classes_from_file:
            with get_local_path(
                    self.ann_file,
                    backend_args=self.backend_args) as local_path:
                with open(local_path, encoding='utf-8') as f:
                    categories = json.load(f).get('categories', [])
            names = [
                c['name'] for c in sorted(categories, key=lambda c: c['id'])
            ]
            if sorted(map(_canonical, names)) != sorted(
                    map(_canonical, HRSSD_CLASSES)):
                raise ValueError(
                    f'{self.ann_file}: categories {names} are not the 13 '
                    f'HRRSD classes {list(HRSSD_CLASSES)} (up to case, '
                    'spaces, "_" and "-"); pass metainfo=dict(classes=...) '
                    'to use other names')
            self._metainfo['classes'] = tuple(names)
        return super().load_data_list()
