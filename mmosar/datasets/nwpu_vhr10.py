"""NWPU VHR-10 in COCO format (e.g. the SDCoNet "NWPU VHR-10-Split").

:class:`NamedCocoDataset` is a ``CocoDataset`` that checks that the class
names exist in the annotation file: mmdet's ``CocoDataset`` silently drops
unknown names and numbers the labels in the file's category order, which
gives wrong labels when the names or their order differ from
``metainfo['classes']``.
"""
import json
from typing import List

from mmdet.datasets import CocoDataset
from mmengine.fileio import get_local_path

from mmosar.registry import DATASETS

NWPU_VHR10_CLASSES = ('airplane', 'ship', 'storage tank', 'baseball diamond',
                      'tennis court', 'basketball court', 'ground track field',
                      'harbor', 'bridge', 'vehicle')


class NamedCocoDataset(CocoDataset):
    """COCO dataset whose labels are checked against the category names.

    Raises:
        ValueError: When a class of ``metainfo['classes']`` is not a category
            name of ``ann_file``, or the file lists them in another order;
            the message names the file and its categories (pass
            ``metainfo=dict(classes=...)`` with the file's names).
    """

    def load_data_list(self) -> List[dict]:
        """mmdet's COCO loading after checking the class names."""
        with get_local_path(
                self.ann_file, backend_args=self.backend_args) as local_path:
            with open(local_path, encoding='utf-8') as f:
                categories = json.load(f).get('categories', [])
        by_id = sorted(categories, key=lambda c: c['id'])
        names = [c['name'] for c in by_id]
        classes = list(self.metainfo['classes'])
        missing = [c for c in classes if c not in names]
        in_file_order = [n for n in names if n in classes]
        if missing or in_file_order != classes:
            raise ValueError(
                f'{self.ann_file}: classes {classes} do not match the '
                f'categories of the file {names} (missing: {missing}; the '
                'labels follow the category ids, so the classes must be '
                'listed in that order); pass metainfo=dict(classes=...) '
                'with the file\'s names')
        return super().load_data_list()


@DATASETS.register_module()
class NWPUVHR10Dataset(NamedCocoDataset):
    """NWPU VHR-10: 10 classes of very-high-resolution optical objects, COCO
    json annotations with horizontal boxes."""

    METAINFO = dict(
        classes=NWPU_VHR10_CLASSES,
        palette=[(220, 20, 60), (0, 0, 230), (106, 0, 228), (0, 182, 0),
                 (255, 179, 240), (0, 125, 92), (209, 0, 151), (188, 208, 182),
                 (0, 220, 176), (255, 99, 164)])
