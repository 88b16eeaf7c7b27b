"""Common base of the rotated-box detection datasets (DOTA-format label
folders, DIOR-R and HRSC2016 XML).

Every instance stores its box as the 8-number polygon ``x1, y1, ..., x4, y4``
(a ``'qbox'``), so pipelines load it with
``LoadAnnotations(with_bbox=True, box_type='qbox')`` and convert it with
``ConvertBoxType(box_type_mapping=dict(gt_bboxes='rbox'))``.
"""
from typing import List, Optional, Sequence

from mmdet.datasets import BaseDetDataset

_POLICIES = ('error', 'skip')


class RotatedDetDataset(BaseDetDataset):
    """Rotated detection dataset whose instances are polygons + difficulty.

    Args:
        diff_thr: Instances whose difficulty is greater than this get
            ``ignore_flag=1`` (kept as ignored ground truth for evaluation).
            DOTA difficulty is 0 or 1 (the split tool writes 2 for truncated
            objects), so the default 100 ignores nothing.
        on_unknown_class: ``'error'`` (default) raises on a class name (or
            id) that is not in ``metainfo['classes']``; ``'skip'`` drops such
            objects, e.g. to train on a subset of the classes.
        *args, **kwargs: :class:`mmdet.datasets.BaseDetDataset` arguments.
    """

    def __init__(self,
                 *args,
                 diff_thr: int = 100,
                 on_unknown_class: str = 'error',
                 **kwargs) -> None:
        if on_unknown_class not in _POLICIES:
            raise ValueError(f'on_unknown_class must be one of {_POLICIES}, '
                             f'got {on_unknown_class!r}')
        self.diff_thr = diff_thr
        self.on_unknown_class = on_unknown_class
        super().__init__(*args, **kwargs)

    def class_label(self, name: str, where: str) -> Optional[int]:
        """Index of a class name in ``metainfo['classes']``.

        Args:
            name: Class name read from an annotation.
            where: Location for the error message, e.g. ``'file.txt:4'``.

        Returns:
            The label, or None when the class is unknown and
            ``on_unknown_class='skip'``.
        """
        classes = self.metainfo['classes']
        if name in classes:
            return classes.index(name)
        if self.on_unknown_class == 'skip':
            return None
        raise ValueError(
            f'{where}: unknown class {name!r}; this dataset has classes '
            f'{list(classes)} (use on_unknown_class="skip" to drop objects '
            'of other classes)')

    def make_instance(self, polygon: Sequence[float], label: int,
                      difficulty: int) -> dict:
        """Instance dict in the mmdet format with a quadrilateral ``bbox``."""
        return dict(
            bbox=[float(v) for v in polygon],
            bbox_label=int(label),
            ignore_flag=int(difficulty > self.diff_thr),
            difficulty=int(difficulty))

    def filter_data(self) -> List[dict]:
        """Drop images without any instance if
        ``filter_cfg=dict(filter_empty_gt=True)`` (never in test mode)."""
        if self.test_mode or not self.filter_cfg:
            return self.data_list
        if not self.filter_cfg.get('filter_empty_gt', False):
            return self.data_list
        return [info for info in self.data_list if info['instances']]

    def get_cat_ids(self, idx: int) -> List[int]:
        """Labels of all instances of image ``idx``."""
        return [
            instance['bbox_label']
            for instance in self.get_data_info(idx)['instances']
        ]
