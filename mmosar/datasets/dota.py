"""DOTA-format datasets: a folder of ``labelTxt`` files, one per image.

Each object line is ``x1 y1 x2 y2 x3 y3 x4 y4 class difficult`` (the
difficulty may be missing; it then defaults to 0). Raw DOTA files start with
``imagesource:...`` and ``gsd:...`` header lines; the split tool's files have
no header. Both are read.
"""
import glob
import os.path as osp
import warnings
from typing import List, NamedTuple, Optional

import numpy as np

from mmosar.registry import DATASETS

from .base_rotated import RotatedDetDataset

DOTA_V1_CLASSES = ('plane', 'baseball-diamond', 'bridge', 'ground-track-field',
                   'small-vehicle', 'large-vehicle', 'ship', 'tennis-court',
                   'basketball-court', 'storage-tank', 'soccer-ball-field',
                   'roundabout', 'harbor', 'swimming-pool', 'helicopter')
DOTA_V15_CLASSES = DOTA_V1_CLASSES + ('container-crane', )
DOTA_V2_CLASSES = DOTA_V15_CLASSES + ('airport', 'helipad')

# One distinct colour per DOTA v2.0 class (v1.0 / v1.5 use the first ones).
_DOTA_PALETTE = [
    (230, 25, 75), (60, 180, 75), (255, 225, 25), (0, 130, 200),
    (245, 130, 48), (145, 30, 180), (70, 240, 240), (240, 50, 230),
    (210, 245, 60), (250, 190, 212), (0, 128, 128), (220, 190, 255),
    (170, 110, 40), (255, 250, 200), (128, 0, 0), (170, 255, 195),
    (128, 128, 0), (0, 0, 128)
]  # yapf: disable

_VERSION_CLASSES = {
    'v1.0': DOTA_V1_CLASSES,
    'v1.5': DOTA_V15_CLASSES,
    'v2.0': DOTA_V2_CLASSES
}
DOTA_METAINFO = {
    version: dict(classes=classes, palette=_DOTA_PALETTE[:len(classes)])
    for version, classes in _VERSION_CLASSES.items()
}

_HEADER_KEYS = ('imagesource', 'gsd')
_POLYGON_POLICIES = ('error', 'warn', 'skip')


class DOTALabels(NamedTuple):
    """Content of one DOTA label file.

    Attributes:
        polygons: ``(N, 8)`` float32 quadrilaterals ``x1, y1, ..., x4, y4``.
        names: N class names.
        difficulties: ``(N,)`` int64 difficulty flags.
        line_numbers: ``(N,)`` 1-based line of each object in the file.
        header: Header values, e.g. ``{'imagesource': 'GoogleEarth',
            'gsd': '0.13'}`` (empty for the split tool's files).
    """
    polygons: np.ndarray
    names: List[str]
    difficulties: np.ndarray
    line_numbers: np.ndarray
    header: dict


def read_dota_label_file(path: str) -> DOTALabels:
    """Read a DOTA ``labelTxt`` file.

    Header lines ``imagesource:...`` / ``gsd:...`` before the first object
    and blank lines are accepted. An empty file is an image without objects.

    Args:
        path: Label file.

    Returns:
        DOTALabels: The objects of the file.

    Raises:
        ValueError: On a line with a wrong number of fields, a non-numeric or
            non-finite coordinate, or a non-integer difficulty; the message
            names the file and the line.
    """
    polygons, names, difficulties, line_numbers = [], [], [], []
    header = {}
    with open(path, encoding='utf-8') as f:
        for lineno, raw_line in enumerate(f, start=1):
            line = raw_line.strip()
            if not line:
                continue
            key = line.split(':', 1)[0]
            if not polygons and key in _HEADER_KEYS and ':' in line:
                header[key] = line.split(':', 1)[1].strip()
                continue
            fields = line.split()
            where = f'{path}:{lineno}'
            if len(fields) not in (9, 10):
                raise ValueError(
                    f'{where}: expected "x1 y1 x2 y2 x3 y3 x4 y4 class '
                    f'[difficult]" (9 or 10 fields), got {len(fields)} '
                    f'fields: {line!r}')
            try:
                coords = [float(v) for v in fields[:8]]
            except ValueError:
                raise ValueError(f'{where}: non-numeric coordinate in '
                                 f'{line!r}') from None
            if not np.isfinite(coords).all():
                raise ValueError(f'{where}: non-finite coordinate in '
                                 f'{line!r}')
            try:
                difficulty = int(fields[9]) if len(fields) == 10 else 0
            except ValueError:
                raise ValueError(f'{where}: difficulty must be an integer, '
                                 f'got {fields[9]!r}') from None
            polygons.append(coords)
            names.append(fields[8])
            difficulties.append(difficulty)
            line_numbers.append(lineno)
    return DOTALabels(
        polygons=np.asarray(polygons, dtype=np.float32).reshape(-1, 8),
        names=names,
        difficulties=np.asarray(difficulties, dtype=np.int64),
        line_numbers=np.asarray(line_numbers, dtype=np.int64),
        header=header)


def simple_quadrilaterals(polygons: np.ndarray) -> np.ndarray:
    """Whether each quadrilateral is simple and has a positive area.

    A quadrilateral ``p0 p1 p2 p3`` is self-intersecting when one pair of
    opposite edges (``p0p1``/``p2p3`` or ``p1p2``/``p3p0``) crosses.

    Args:
        polygons: ``(N, 8)`` quadrilaterals.

    Returns:
        np.ndarray: ``(N,)`` bool, False for self-intersecting or degenerate
        (zero-area) quadrilaterals.
    """
    pts = np.asarray(polygons, dtype=np.float64).reshape(-1, 4, 2)

    def cross(o, a, b):
        return ((a[:, 0] - o[:, 0]) * (b[:, 1] - o[:, 1]) -
                (a[:, 1] - o[:, 1]) * (b[:, 0] - o[:, 0]))

    def segments_cross(a, b, c, d):
        return ((cross(a, b, c) * cross(a, b, d) < 0)
                & (cross(c, d, a) * cross(c, d, b) < 0))

    p0, p1, p2, p3 = pts[:, 0], pts[:, 1], pts[:, 2], pts[:, 3]
    x, y = pts[..., 0], pts[..., 1]
    area = 0.5 * np.abs(
        (x * np.roll(y, -1, axis=1) - np.roll(x, -1, axis=1) * y).sum(axis=1))
    crossed = segments_cross(p0, p1, p2, p3) | segments_cross(p1, p2, p3, p0)
    return ~crossed & (area > 0)


class DOTAFormatDataset(RotatedDetDataset):
    """Base of datasets stored as a folder of DOTA label files.

    ``ann_file`` is the label folder (``*.txt``, one per image, the file stem
    is the image id) and ``data_prefix=dict(img_path=...)`` the image folder.
    With an empty ``ann_file`` (test sets without labels) every image with
    ``img_suffix`` in the image folder is listed without instances.

    Args:
        img_suffix: Image file extension, with or without the dot.
        on_invalid_polygon: What to do with a self-intersecting or zero-area
            quadrilateral: ``'error'`` (default) raises naming the file and
            line; ``'warn'`` keeps it with a warning (the later
            ``ConvertBoxType`` fits the minimum-area rectangle of its four
            points); ``'skip'`` drops it with a warning.
        **kwargs: :class:`RotatedDetDataset` arguments (``diff_thr``,
            ``on_unknown_class``, ``ann_file``, ``data_root``,
            ``data_prefix``, ``filter_cfg``, ``pipeline``, ``test_mode``...).
    """

    def __init__(self,
                 *args,
                 img_suffix: str = 'png',
                 on_invalid_polygon: str = 'error',
                 **kwargs) -> None:
        if on_invalid_polygon not in _POLYGON_POLICIES:
            raise ValueError(
                'on_invalid_polygon must be one of '
                f'{_POLYGON_POLICIES}, got {on_invalid_polygon!r}')
        self.img_suffix = '.' + img_suffix.lstrip('.')
        self.on_invalid_polygon = on_invalid_polygon
        super().__init__(*args, **kwargs)

    def load_data_list(self) -> List[dict]:
        """One data info per label file (or per image without ``ann_file``).
        """
        img_dir = self.data_prefix.get('img_path', '')
        if not self.ann_file:
            return self._list_unlabeled_images(img_dir)
        if not osp.isdir(self.ann_file):
            raise FileNotFoundError(
                f'ann_file must be a folder of DOTA label files (*.txt), '
                f'got {self.ann_file!r}')
        label_files = sorted(glob.glob(osp.join(self.ann_file, '*.txt')))
        if not label_files:
            raise FileNotFoundError(f'no *.txt label file in {self.ann_file}')
        data_list = []
        for label_file in label_files:
            img_id = osp.splitext(osp.basename(label_file))[0]
            file_name = img_id + self.img_suffix
            labels = read_dota_label_file(label_file)
            data_list.append(
                dict(
                    img_id=img_id,
                    file_name=file_name,
                    img_path=osp.join(img_dir, file_name),
                    gsd=_parse_gsd(labels.header.get('gsd'), label_file),
                    instances=self._instances_of(labels, label_file)))
        return data_list

    def _list_unlabeled_images(self, img_dir: str) -> List[dict]:
        img_paths = sorted(glob.glob(osp.join(img_dir, '*' + self.img_suffix)))
        if not img_paths:
            raise FileNotFoundError(
                f'no *{self.img_suffix} image in {img_dir!r} (ann_file is '
                'empty, so images are listed from data_prefix["img_path"])')
        return [
            dict(
                img_id=osp.splitext(osp.basename(path))[0],
                file_name=osp.basename(path),
                img_path=path,
                instances=[]) for path in img_paths
        ]

    def _instances_of(self, labels: DOTALabels, label_file: str) -> List[dict]:
        valid = simple_quadrilaterals(labels.polygons)
        if not valid.all():
            bad_lines = labels.line_numbers[~valid].tolist()
            message = (f'{label_file}: line(s) {bad_lines} hold a '
                       'self-intersecting or zero-area quadrilateral (DOTA '
                       'corners go around the object)')
            if self.on_invalid_polygon == 'error':
                raise ValueError(message + '; pass on_invalid_polygon="warn" '
                                 'or "skip" to accept or drop them')
            warnings.warn(message + ('; kept' if self.on_invalid_polygon ==
                                     'warn' else '; skipped'))
        instances = []
        for i, name in enumerate(labels.names):
            if not valid[i] and self.on_invalid_polygon == 'skip':
                continue
            label = self.class_label(name,
                                     f'{label_file}:{labels.line_numbers[i]}')
            if label is None:
                continue
            instances.append(
                self.make_instance(labels.polygons[i], label,
                                   labels.difficulties[i]))
        return instances


def _parse_gsd(value: Optional[str], label_file: str) -> Optional[float]:
    """Ground sample distance from a ``gsd:`` header (None if absent/null)."""
    if value is None or value.lower() in ('', 'null', 'none', 'nan'):
        return None
    try:
        return float(value)
    except ValueError:
        raise ValueError(f'{label_file}: gsd header must be a number or '
                         f'"null", got {value!r}') from None


@DATASETS.register_module()
class DOTADataset(DOTAFormatDataset):
    """DOTA v1.0 / v1.5 / v2.0 (raw images + labelTxt, or split patches).

    Args:
        version: Class set, ``'v1.0'`` (15 classes), ``'v1.5'`` (+
            container-crane) or ``'v2.0'`` (+ airport, helipad). Ignored for
            the keys that an explicit ``metainfo`` gives; a ``metainfo``
            with a subset of the classes and no palette keeps each class's
            colour.
        **kwargs: :class:`DOTAFormatDataset` arguments.

    Example:
        >>> dataset = DOTADataset(
        ...     data_root='data/split_ss_dota/trainval/',
        ...     ann_file='annfiles/', data_prefix=dict(img_path='images/'),
        ...     filter_cfg=dict(filter_empty_gt=True), pipeline=[])
    """

    METAINFO = DOTA_METAINFO['v1.0']

    def __init__(self,
                 *args,
                 version: str = 'v1.0',
                 metainfo: Optional[dict] = None,
                 **kwargs) -> None:
        if version not in DOTA_METAINFO:
            raise ValueError(f'version must be one of {list(DOTA_METAINFO)}, '
                             f'got {version!r}')
        self.version = version
        merged = dict(DOTA_METAINFO[version])
        merged.update(metainfo or {})
        if metainfo and 'classes' in metainfo and 'palette' not in metainfo:
            colours = dict(zip(DOTA_V2_CLASSES, _DOTA_PALETTE))
            merged['palette'] = [
                colours.get(name, (255, 255, 255))
                for name in merged['classes']
            ]
        super().__init__(*args, metainfo=merged, **kwargs)


@DATASETS.register_module()
class SARShipDataset(DOTAFormatDataset):
    """SAR ship datasets (HRSID, SSDD, RSDD...) with rotated boxes stored as
    DOTA label files, one class ``ship``."""

    METAINFO = dict(classes=('ship', ), palette=[(0, 200, 255)])
