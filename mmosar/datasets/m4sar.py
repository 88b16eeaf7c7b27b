"""M4-SAR: co-registered optical / SAR pairs with oriented boxes.

M4-SAR (Wang et al., "M4-SAR: A Multi-Resolution, Multi-Polarization,
Multi-Scene, Multi-Source Dataset and Benchmark for Optical-SAR Fusion Object
Detection") has 112,174 pairs of 512 x 512 images, 6 classes and oriented
boxes. Two on-disk layouts exist:

``layout='released'`` (what the official code and GEO-Bench-2 read)::

    data_root/optical/images/{train,val,test}/<n>.jpg
    data_root/sar/images/{train,val,test}/<n>.jpg
    data_root/{optical,sar}/labels/{split}/<n>.txt
        one object per line: ``class_id x1 y1 x2 y2 x3 y3 x4 y4``,
        corners normalised by the image size (Ultralytics OBB format);
        parsed as tolerantly as the release (only each box's axis-aligned
        extent must lie in [0, 1], else the pair is skipped; duplicates are
        removed), with one summary line, or errors with ``strict=True``

``layout='drawn'`` (the paper's data-structure figure)::

    data_root/{optical,SAR}/{split}/images/<n>.jpg
    data_root/{optical,SAR}/{split}/labelTxt/<n>.txt
        DOTA lines in pixels: ``x1 y1 ... x4 y4 class_name difficulty``

Pairs are matched by file NAME (stem). The official loader pairs the two
folders by sorted order, which silently mis-pairs images when a file is
missing; here a missing partner or a size mismatch is an error that lists the
offending names. As in the released code, the optical labels are the
reference; ``check_sar_labels=True`` also reads the SAR labels and checks
that they agree.

Instances are stored as ``'qbox'`` polygons in absolute pixels: normalised
corners are multiplied by the image width / height, which are read from the
image headers (PIL reads only the header, no decoding) when the dataset is
built: about 0.1 ms per file, i.e. roughly 25 s for the 224k files of the
full dataset on a warm disk cache. The same header read gives the optical /
SAR size check, so a bad pair fails when the dataset is built rather than
in the middle of an epoch.

Every data info carries ``img_path`` (optical), ``sar_path``, ``height``,
``width``, and the acquisition metadata encoded by the file number
(README table): numbers 1-56087 are 10 m optical with VH SAR, 56088-112174
are 60 m optical with VV SAR (``resolution`` in metres and ``polarization``;
both None for a file name that is not such a number).
"""
import logging
import os
import os.path as osp
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
from mmengine.logging import print_log
from PIL import Image

from mmosar.registry import DATASETS

from .base_rotated import RotatedDetDataset
from .dota import read_dota_label_file

M4SAR_LAST_10M_NUMBER = 56087
M4SAR_LAST_NUMBER = 112174
IMG_SUFFIXES = ('.jpg', '.jpeg', '.png', '.tif', '.tiff', '.bmp')
LAYOUTS = ('released', 'drawn')
_MAX_LISTED = 20


def m4sar_acquisition(name: str) -> Dict[str, Optional[object]]:
    """Resolution and SAR polarization encoded by an M4-SAR file number.

    Args:
        name: File stem, e.g. ``'56088'``.

    Returns:
        dict: ``resolution`` (optical ground sampling distance in metres,
        10 or 60) and ``polarization`` (``'VH'`` or ``'VV'``); both None when
        ``name`` is not a number in 1-112174.
    """
    if name.isdigit():
        number = int(name)
        if 1 <= number <= M4SAR_LAST_10M_NUMBER:
            return dict(resolution=10, polarization='VH')
        if M4SAR_LAST_10M_NUMBER < number <= M4SAR_LAST_NUMBER:
            return dict(resolution=60, polarization='VV')
    return dict(resolution=None, polarization=None)


@dataclass
class OBBLabelFile:
    """One parsed Ultralytics OBB label file.

    Attributes:
        rows: float64 (N, 9): class id then the 8 normalised corner
            coordinates, duplicates removed (empty when ``skipped``).
        skipped: Why the released loader would leave the whole pair out
            (``'<path>:<line>: ...'``), or None.
        outside_lines: Lines kept although a corner lies outside [0, 1].
        duplicate_lines: Lines removed as duplicates of an earlier line.
    """
    rows: np.ndarray
    skipped: Optional[str] = None
    outside_lines: List[int] = field(default_factory=list)
    duplicate_lines: List[int] = field(default_factory=list)


def _axis_aligned_extent(corners: np.ndarray) -> np.ndarray:
    """``(cx, cy, w, h)`` of the corners' axis-aligned box, float32 as the
    released loader computes it; corners (N, 8) -> (N, 4)."""
    xy = corners.astype(np.float32).reshape(-1, 4, 2)
    low, high = xy.min(axis=1), xy.max(axis=1)
    return np.concatenate([(low + high) / 2, high - low], axis=1)


def parse_normalised_obb_file(path: str, num_classes: int) -> OBBLabelFile:
    """Read an Ultralytics OBB label file (M4-SAR released format).

    Tolerant as the released loader (Ultralytics ``verify_image_label``) is:

    * only the axis-aligned extent ``(cx, cy, w, h)`` of each box is
      checked: all four must lie in [0, 1]; otherwise the released loader
      drops the whole pair ("ignoring corrupt image/label"), and so does
      this one (``skipped`` says why). Corners outside [0, 1] are therefore
      accepted (``outside_lines``); the training augmentation clamps them.
    * rows with the same class and axis-aligned extent (float32) are
      duplicates; the first one is kept (``duplicate_lines``).

    Args:
        path: Label file; one object per line,
            ``class_id x1 y1 x2 y2 x3 y3 x4 y4``. Blank lines are skipped.
        num_classes: Number of classes; ids must be in ``[0, num_classes)``.

    Returns:
        OBBLabelFile: rows and the lines that were tolerated.

    Raises:
        ValueError: naming the file and line for a wrong number of fields,
            a value that is not a number or a class id that is not an
            integer in range (malformed lines are errors, not tolerated).
    """
    rows, line_numbers = [], []
    with open(path) as f:
        for line_no, line in enumerate(f, start=1):
            fields = line.split()
            if not fields:
                continue
            where = f'{path}:{line_no}'
            if len(fields) != 9:
                raise ValueError(
                    f'{where}: expected 9 fields "class_id x1 y1 x2 y2 x3 y3 '
                    f'x4 y4", got {len(fields)}: {line.strip()!r}')
            try:
                values = [float(v) for v in fields]
            except ValueError:
                raise ValueError(f'{where}: not a number in '
                                 f'{line.strip()!r}') from None
            if not np.all(np.isfinite(values)):
                raise ValueError(f'{where}: not a finite number in '
                                 f'{line.strip()!r}')
            cls_id = values[0]
            if cls_id != int(cls_id) or not 0 <= cls_id < num_classes:
                raise ValueError(f'{where}: class id {fields[0]!r} is not an '
                                 f'integer in [0, {num_classes})')
            rows.append(values)
            line_numbers.append(line_no)
    rows = np.asarray(rows, dtype=np.float64).reshape(-1, 9)
    extent = _axis_aligned_extent(rows[:, 1:])
    bad = np.flatnonzero(((extent < 0) | (extent > 1)).any(axis=1))
    if len(bad):
        cx, cy, w, h = extent[bad[0]]
        return OBBLabelFile(
            rows=rows[:0],
            skipped=(f'{path}:{line_numbers[bad[0]]}: axis-aligned extent '
                     f'cx={cx:.4g} cy={cy:.4g} w={w:.4g} h={h:.4g} is not in '
                     '[0, 1]'))
    outside = [
        n for n, row in zip(line_numbers, rows)
        if np.any((row[1:] < 0) | (row[1:] > 1))
    ]
    key = np.concatenate([rows[:, :1].astype(np.float32), extent], axis=1)
    _, first = np.unique(key, axis=0, return_index=True)
    keep = np.sort(first)
    duplicates = sorted(set(range(len(rows))) - set(keep.tolist()))
    return OBBLabelFile(
        rows=rows[keep],
        outside_lines=outside,
        duplicate_lines=[line_numbers[k] for k in duplicates])


def _listed(names: Sequence[str]) -> str:
    """Comma-separated names, at most ``_MAX_LISTED`` of them."""
    names = sorted(names)
    more = len(names) - _MAX_LISTED
    text = ', '.join(names[:_MAX_LISTED])
    return text + (f' ... and {more} more' if more > 0 else '')


@DATASETS.register_module()
class M4SARDataset(RotatedDetDataset):
    """M4-SAR optical + SAR oriented object detection dataset.

    Args:
        data_root: M4-SAR root folder (holding ``optical/`` and ``sar/``).
        split: ``'train'``, ``'val'`` or ``'test'`` (any folder name works).
        layout: ``'released'`` (normalised labels under ``labels/``) or
            ``'drawn'`` (DOTA labels under ``labelTxt/``); see the module
            docstring.
        check_sar_labels: Also read the SAR label files and raise if any
            disagrees with its optical twin (same classes, corners within
            ``label_tolerance_px``). Defaults to False: the released code
            reads only the optical labels.
        label_tolerance_px: Corner tolerance in pixels for
            ``check_sar_labels``.
        strict: Make the cases the released loader tolerates errors: a
            label file it would skip, corners outside [0, 1], duplicate
            rows (released layout). Defaults to False: they are tolerated as
            in the release and listed in one log line when the dataset is
            built (skipped pairs are left out of the dataset).
        *args, **kwargs: :class:`RotatedDetDataset` /
            :class:`mmdet.datasets.BaseDetDataset` arguments (``pipeline``,
            ``test_mode``, ``filter_cfg``, ``diff_thr``...). ``ann_file`` is
            not used.

    Images without a label file are background images (no objects), as in
    the released code; their number is logged. A split where no image has a
    label file is an error (wrong folder).
    """

    METAINFO = {
        'classes': ('bridge', 'harbor', 'oil_tank', 'playground', 'airport',
                    'wind_turbine'),
        'palette': [(220, 20, 60), (0, 130, 200), (255, 200, 0), (60, 180, 75),
                    (145, 30, 180), (0, 230, 230)]
    }

    def __init__(self,
                 *args,
                 split: str = 'train',
                 layout: str = 'released',
                 check_sar_labels: bool = False,
                 label_tolerance_px: float = 1.0,
                 strict: bool = False,
                 **kwargs) -> None:
        if layout not in LAYOUTS:
            raise ValueError(f'layout must be one of {LAYOUTS}, got '
                             f'{layout!r}')
        self.split = split
        self.layout = layout
        self.check_sar_labels = check_sar_labels
        self.label_tolerance_px = label_tolerance_px
        self.strict = strict
        self._tolerated: Dict[str, List[str]] = {}
        super().__init__(*args, **kwargs)

    # ------------------------------------------------------------- folders
    def _modality_dir(self, modality: str) -> str:
        """Root folder of a modality; SAR may be ``sar`` or ``SAR``."""
        candidates = [modality] if modality == 'optical' else ['sar', 'SAR']
        if self.layout == 'drawn' and modality == 'sar':
            candidates.reverse()
        for name in candidates:
            path = osp.join(self.data_root, name)
            if osp.isdir(path):
                return path
        raise FileNotFoundError(
            f'M4-SAR {modality} folder not found: none of '
            f'{[osp.join(self.data_root, c) for c in candidates]} exists '
            f'(data_root={self.data_root!r}, layout={self.layout!r})')

    def _split_dirs(self, modality: str) -> Tuple[str, str]:
        """Image and label folders of a modality for ``self.split``."""
        root = self._modality_dir(modality)
        if self.layout == 'released':
            img_dir = osp.join(root, 'images', self.split)
            label_dir = osp.join(root, 'labels', self.split)
        else:
            img_dir = osp.join(root, self.split, 'images')
            label_dir = osp.join(root, self.split, 'labelTxt')
        return img_dir, label_dir

    @staticmethod
    def _list_images(img_dir: str) -> Dict[str, str]:
        """Map file stem -> image path for one folder.

        Raises:
            FileNotFoundError: the folder does not exist.
            ValueError: it holds no image, or two images share a stem.
        """
        if not osp.isdir(img_dir):
            raise FileNotFoundError(f'image folder {img_dir} does not exist')
        images: Dict[str, str] = {}
        for file_name in sorted(os.listdir(img_dir)):
            stem, suffix = osp.splitext(file_name)
            if suffix.lower() not in IMG_SUFFIXES:
                continue
            if stem in images:
                raise ValueError(
                    f'{img_dir}: two images share the name {stem!r} '
                    f'({osp.basename(images[stem])} and {file_name})')
            images[stem] = osp.join(img_dir, file_name)
        if not images:
            raise ValueError(f'image folder {img_dir} is empty (no '
                             f'{"/".join(IMG_SUFFIXES)} file)')
        return images

    # ------------------------------------------------------------- labels
    def _read_polygons(self, label_path: str, width: int,
                       height: int) -> Optional[List[dict]]:
        """Instances of one label file, polygons in absolute pixels; None
        for a file the released loader skips (recorded in
        ``self._tolerated`` with the tolerated lines)."""
        if self.layout == 'released':
            parsed = parse_normalised_obb_file(label_path,
                                               len(self.metainfo['classes']))
            tolerated = self._tolerated
            if parsed.skipped:
                tolerated.setdefault('skipped', []).append(parsed.skipped)
                return None
            tolerated.setdefault('outside', []).extend(
                f'{label_path}:{n}' for n in parsed.outside_lines)
            tolerated.setdefault('duplicate', []).extend(
                f'{label_path}:{n}' for n in parsed.duplicate_lines)
            scale = np.tile([width, height], 4)
            return [
                self.make_instance(row[1:] * scale, int(row[0]), 0)
                for row in parsed.rows
            ]
        labels = read_dota_label_file(label_path)
        instances = []
        for polygon, name, difficulty, line_no in zip(labels.polygons,
                                                      labels.names,
                                                      labels.difficulties,
                                                      labels.line_numbers):
            label = self.class_label(name, f'{label_path}:{line_no}')
            if label is not None:
                instances.append(
                    self.make_instance(polygon, label, difficulty))
        return instances

    def _report_tolerated(self) -> None:
        """Log (or with ``strict`` raise) one line listing the skipped
        files, the lines with corners outside the image and the duplicate
        lines."""
        skipped = self._tolerated.get('skipped', [])
        outside = self._tolerated.get('outside', [])
        duplicate = self._tolerated.get('duplicate', [])
        parts = []
        if skipped:
            parts.append(f'{len(skipped)} label files skipped (pair left '
                         f'out, as the release does): {_listed(skipped)}')
        if outside:
            parts.append(f'{len(outside)} lines with corners outside [0, 1] '
                         'kept (clamped by the training augmentation): '
                         f'{_listed(outside)}')
        if duplicate:
            parts.append(f'{len(duplicate)} duplicate lines removed: '
                         f'{_listed(duplicate)}')
        if not parts:
            return
        text = f'M4SARDataset({self.split}): ' + '; '.join(parts)
        if self.strict:
            raise ValueError(text + ' (strict=True)')
        print_log(text, logger='current', level=logging.WARNING)

    def _labels_agree(self, optical: List[dict], sar: List[dict]) -> bool:
        """Whether two instance lists hold the same boxes, in any order.

        Each optical box must pair with a distinct SAR box of the same class
        whose corners are all within ``label_tolerance_px``.
        """
        if len(optical) != len(sar):
            return False
        unused = list(range(len(sar)))
        for inst in optical:
            match = next(
                (k for k in unused
                 if sar[k]['bbox_label'] == inst['bbox_label'] and np.all(
                     np.abs(np.subtract(sar[k]['bbox'], inst['bbox'])) <=
                     self.label_tolerance_px)), None)
            if match is None:
                return False
            unused.remove(match)
        return True

    # ------------------------------------------------------------ loading
    def load_data_list(self) -> List[dict]:
        """Match the pairs by name and read the optical labels.

        Returns:
            list[dict]: One data info per pair, sorted by file number.

        Raises:
            FileNotFoundError / ValueError: missing or empty folders,
                unpaired names, optical / SAR size mismatches, bad label
                lines (file and line), disagreeing SAR labels (with
                ``check_sar_labels``).
        """
        if not self.data_root:
            raise ValueError('M4SARDataset needs data_root (the folder that '
                             'holds optical/ and sar/)')
        opt_img_dir, opt_label_dir = self._split_dirs('optical')
        sar_img_dir, sar_label_dir = self._split_dirs('sar')
        optical = self._list_images(opt_img_dir)
        sar = self._list_images(sar_img_dir)
        missing_sar = set(optical) - set(sar)
        missing_opt = set(sar) - set(optical)
        if missing_sar or missing_opt:
            raise ValueError(
                'M4-SAR pairs are matched by file name and some images have '
                'no partner:' +
                (f'\n  optical without SAR in {sar_img_dir}: '
                 f'{_listed(missing_sar)}' if missing_sar else '') +
                (f'\n  SAR without optical in {opt_img_dir}: '
                 f'{_listed(missing_opt)}' if missing_opt else ''))
        names = sorted(optical, key=lambda n: (not n.isdigit(), len(n), n))

        sizes, mismatched = {}, []
        for name in names:
            with Image.open(optical[name]) as img:
                opt_size = img.size
            with Image.open(sar[name]) as img:
                sar_size = img.size
            if opt_size != sar_size:
                mismatched.append(f'{name} (optical {opt_size[0]}x'
                                  f'{opt_size[1]}, SAR {sar_size[0]}x'
                                  f'{sar_size[1]})')
            sizes[name] = opt_size
        if mismatched:
            raise ValueError(
                f'optical and SAR images of a pair must have the same size '
                f'(W x H); mismatched in {opt_img_dir} / {sar_img_dir}: '
                f'{_listed(mismatched)}')

        label_suffix = '.txt'
        data_list, unlabeled, disagreeing = [], [], []
        self._tolerated = {}
        for name in names:
            width, height = sizes[name]
            label_path = osp.join(opt_label_dir, name + label_suffix)
            if osp.isfile(label_path):
                instances = self._read_polygons(label_path, width, height)
                if instances is None:  # skipped as the release skips it
                    continue
            else:
                unlabeled.append(name)
                instances = []
            if self.check_sar_labels:
                sar_label = osp.join(sar_label_dir, name + label_suffix)
                sar_instances = (
                    self._read_polygons(sar_label, width, height)
                    if osp.isfile(sar_label) else []) or []
                if not self._labels_agree(instances, sar_instances):
                    disagreeing.append(name)
            data_list.append(
                dict(
                    img_path=optical[name],
                    sar_path=sar[name],
                    img_id=name,
                    width=width,
                    height=height,
                    instances=instances,
                    **m4sar_acquisition(name)))

        self._report_tolerated()
        if len(unlabeled) == len(names):
            raise ValueError(
                f'no label file for any of the {len(names)} images of split '
                f'{self.split!r}: expected <name>.txt in {opt_label_dir}')
        if unlabeled:
            print_log(
                f'M4SARDataset({self.split}): {len(unlabeled)} of '
                f'{len(names)} images have no label file in {opt_label_dir} '
                f'and are used as background images: {_listed(unlabeled)}',
                logger='current')
        if disagreeing:
            raise ValueError(
                f'SAR labels in {sar_label_dir} disagree with the optical '
                f'labels in {opt_label_dir} (classes or corners beyond '
                f'{self.label_tolerance_px} px) for: {_listed(disagreeing)}')
        return data_list
