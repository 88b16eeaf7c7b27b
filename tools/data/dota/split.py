"""Split large DOTA-format images (and their labelTxt files) into patches.

Every image is cut into square sliding windows (see
``mmosar.datasets.utils.patch_split``); each window is written to
``<save-dir>/images/{ori}__{size}__{x}___{y}<ext>`` and, when labels are
given, its objects to ``<save-dir>/annfiles/{same name}.txt`` in DOTA format
without header. An object goes into every window where its IoF (area inside
the window / own area) is at least ``iof_thr``; an object cut by the window
(IoF < 1) gets difficulty 2. By default its full polygon is written (shifted
into patch coordinates, partly outside the patch), as mmrotate / BboxToolkit
do: the detector then learns the whole extent of cut objects, so detections
of one object from neighbouring patches agree when they are merged. With
``clip_truncated`` the polygon is replaced by the minimum-area rectangle of
its part inside the window (a rectangle cannot follow the window border
exactly, so it covers the visible part and may still cross the border).
Patches are never resized: a rate ``r`` only makes the window cover
``size / r`` original pixels.

Example (the DOTA v1.0 single-scale preset, see ``split_configs/``)::

    python tools/data/dota/split.py \
        --base-json tools/data/dota/split_configs/ss_trainval.json
    python tools/data/dota/split.py --img-dirs data/DOTA/train/images \
        --ann-dirs data/DOTA/train/labelTxt --sizes 1024 --gaps 200 \
        --save-dir data/split_ss_dota/train --nproc 8
"""
import argparse
import functools
import glob
import json
import os
import os.path as osp
import sys
import warnings
from typing import List, Optional, Sequence

import cv2
import numpy as np
from mmengine.utils import track_parallel_progress, track_progress

from mmosar.datasets.dota import read_dota_label_file, simple_quadrilaterals
from mmosar.datasets.utils.patch_split import (
    assign_polygons_to_windows,
    clip_polygons_to_window,
    crop_window,
    scale_windows_by_rates,
    sliding_windows,
)
from mmosar.evaluation.functional.patch_merge import format_patch_name

IMG_EXTENSIONS = ('.png', '.jpg', '.jpeg', '.bmp', '.tif', '.tiff')

DEFAULTS = dict(
    img_dirs=None,
    ann_dirs=None,
    sizes=[1024],
    gaps=[200],
    rates=[1.0],
    img_rate_thr=0.6,
    iof_thr=0.7,
    padding=True,
    padding_value=[0],
    clip_truncated=False,
    color_type='color',
    save_dir=None,
    save_ext='.png',
    nproc=1)

_COLOR_FLAGS = dict(color=cv2.IMREAD_COLOR, unchanged=cv2.IMREAD_UNCHANGED)


def parse_args(argv: Optional[Sequence[str]] = None) -> dict:
    """Settings: built-in defaults < ``--base-json`` < command-line flags."""
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument(
        '--base-json',
        help='JSON file of default settings '
        '(keys as the long options, with underscores)')
    parser.add_argument('--img-dirs', nargs='+', help='image folders')
    parser.add_argument(
        '--ann-dirs',
        nargs='+',
        help='labelTxt folders, one per image folder (omit for test sets)')
    parser.add_argument('--sizes', nargs='+', type=int, help='window sizes')
    parser.add_argument(
        '--gaps', nargs='+', type=int, help='overlaps, one per size')
    parser.add_argument(
        '--rates', nargs='+', type=float, help='image rates (multi-scale)')
    parser.add_argument(
        '--img-rate-thr',
        type=float,
        help='keep windows whose image-covered fraction is above this')
    parser.add_argument(
        '--iof-thr', type=float, help='min IoF to put an object in a window')
    parser.add_argument(
        '--no-padding',
        dest='padding',
        action='store_const',
        const=False,
        help='do not pad windows that leave the image')
    parser.add_argument(
        '--padding-value',
        nargs='+',
        type=float,
        help='fill value, one number or one per channel (BGR)')
    parser.add_argument(
        '--clip-truncated',
        action='store_const',
        const=True,
        help='write the rectangle of the visible part of truncated objects '
        'instead of their full polygon')
    parser.add_argument(
        '--color-type',
        choices=sorted(_COLOR_FLAGS),
        help='"color": 3-channel BGR (default); "unchanged": keep the '
        'channels and bit depth of the file')
    parser.add_argument('--save-dir', help='output folder (must not exist)')
    parser.add_argument('--save-ext', help='patch image extension')
    parser.add_argument('--nproc', type=int, help='worker processes')
    args = vars(parser.parse_args(argv))

    settings = dict(DEFAULTS)
    base_json = args.pop('base_json')
    if base_json:
        with open(base_json, encoding='utf-8') as f:
            loaded = json.load(f)
        unknown = set(loaded) - set(DEFAULTS)
        if unknown:
            raise ValueError(f'{base_json}: unknown keys {sorted(unknown)}')
        settings.update(loaded)
    settings.update({k: v for k, v in args.items() if v is not None})
    _check_settings(settings)
    return settings


def _check_settings(settings: dict) -> None:
    if not settings['img_dirs'] or not settings['save_dir']:
        raise ValueError('img_dirs and save_dir are required')
    ann_dirs = settings['ann_dirs']
    if ann_dirs is not None and len(ann_dirs) != len(settings['img_dirs']):
        raise ValueError('give one ann_dir per img_dir')
    if len(settings['sizes']) != len(settings['gaps']):
        raise ValueError('give one gap per size')
    if len(settings['sizes']) > 1 and len(settings['rates']) > 1:
        raise ValueError('use several sizes or several rates, not both')
    if not settings['save_ext'].startswith('.'):
        settings['save_ext'] = '.' + settings['save_ext']


def find_image(img_dir: str, img_id: str) -> str:
    """Path of image ``img_id`` in ``img_dir`` with any known extension."""
    for ext in IMG_EXTENSIONS:
        path = osp.join(img_dir, img_id + ext)
        if osp.isfile(path):
            return path
    raise FileNotFoundError(f'no image {img_id}{IMG_EXTENSIONS} in {img_dir}')


def collect_tasks(img_dirs: Sequence[str],
                  ann_dirs: Optional[Sequence[str]]) -> List[dict]:
    """One ``dict(img_id, img_path, ann_path)`` per image to split.

    With label folders, every label file gives an image (its stem is the
    image id); without, every image of the image folders is split.
    """
    tasks = []
    for k, img_dir in enumerate(img_dirs):
        if ann_dirs is None:
            for path in sorted(glob.glob(osp.join(img_dir, '*'))):
                if osp.splitext(path)[1].lower() in IMG_EXTENSIONS:
                    tasks.append(
                        dict(
                            img_id=osp.splitext(osp.basename(path))[0],
                            img_path=path,
                            ann_path=None))
            continue
        for ann_path in sorted(glob.glob(osp.join(ann_dirs[k], '*.txt'))):
            img_id = osp.splitext(osp.basename(ann_path))[0]
            tasks.append(
                dict(
                    img_id=img_id,
                    img_path=find_image(img_dir, img_id),
                    ann_path=ann_path))
    ids = [task['img_id'] for task in tasks]
    if len(set(ids)) != len(ids):
        raise ValueError('the same image id appears in several folders')
    return tasks


def _load_objects(ann_path: str):
    """Polygons, names and difficulties of a label file; self-intersecting
    quadrilaterals are replaced by the minimum-area rectangle of their
    corners, with a warning naming the file and lines."""
    labels = read_dota_label_file(ann_path)
    polygons = labels.polygons.copy()
    valid = simple_quadrilaterals(polygons)
    if not valid.all():
        warnings.warn(f'{ann_path}: line(s) '
                      f'{labels.line_numbers[~valid].tolist()} hold a '
                      'self-intersecting or zero-area quadrilateral; it is '
                      'replaced by the minimum-area rectangle of its corners')
        for i in np.nonzero(~valid)[0]:
            rect = cv2.minAreaRect(polygons[i].reshape(4, 2))
            polygons[i] = cv2.boxPoints(rect).reshape(8)
    return polygons, labels.names, labels.difficulties


def format_object_line(polygon: np.ndarray, name: str, difficulty: int) -> str:
    """One DOTA label line."""
    coords = ' '.join(f'{v:.2f}' for v in polygon)
    return f'{coords} {name} {int(difficulty)}\n'


def split_image(task: dict, settings: dict) -> dict:
    """Split one image (and its labels) into patches written to disk.

    Args:
        task: ``dict(img_id, img_path, ann_path)`` (``ann_path`` may be None).
        settings: See :data:`DEFAULTS`; ``sizes``/``gaps`` already scaled by
            the rates (``window_sizes``/``window_gaps``).

    Returns:
        dict: ``img_id``, ``num_patches`` and ``num_objects`` (object copies
        written over all patches).
    """
    img = cv2.imread(task['img_path'], _COLOR_FLAGS[settings['color_type']])
    if img is None:
        raise IOError(f'cannot read image {task["img_path"]}')
    height, width = img.shape[:2]
    windows = sliding_windows(width, height, settings['window_sizes'],
                              settings['window_gaps'],
                              settings['img_rate_thr'])
    if task['ann_path'] is not None:
        polygons, names, difficulties = _load_objects(task['ann_path'])
        assignment = assign_polygons_to_windows(polygons, windows,
                                                settings['iof_thr'])
    pad_value = settings['padding_value']
    pad_value = pad_value[0] if len(pad_value) == 1 else pad_value
    img_dir = osp.join(settings['save_dir'], 'images')
    ann_dir = osp.join(settings['save_dir'], 'annfiles')
    num_objects = 0
    for j, window in enumerate(windows):
        x1, y1, x2, _ = (int(v) for v in window)
        name = format_patch_name(task['img_id'], x2 - x1, x1, y1)
        patch = crop_window(img, window, pad_value, settings['padding'])
        if not cv2.imwrite(
                osp.join(img_dir, name + settings['save_ext']), patch):
            raise IOError(f'cannot write patch {name} to {img_dir}')
        if task['ann_path'] is None:
            continue
        inds, iofs = assignment[j]
        truncated = iofs < 1 - 1e-6
        patch_polygons = polygons[inds].copy()
        if settings['clip_truncated'] and truncated.any():
            patch_polygons[truncated] = clip_polygons_to_window(
                patch_polygons[truncated], window)
        patch_polygons[:, 0::2] -= x1
        patch_polygons[:, 1::2] -= y1
        with open(osp.join(ann_dir, name + '.txt'), 'w') as f:
            for k, i in enumerate(inds):
                f.write(
                    format_object_line(patch_polygons[k], names[i],
                                       2 if truncated[k] else difficulties[i]))
        num_objects += len(inds)
    return dict(
        img_id=task['img_id'],
        num_patches=len(windows),
        num_objects=num_objects)


def split_dataset(settings: dict) -> List[dict]:
    """Split every image given by ``settings`` and write a summary.

    Args:
        settings: Settings as returned by :func:`parse_args`.

    Returns:
        Per-image results of :func:`split_image`.
    """
    save_dir = settings['save_dir']
    if osp.exists(save_dir) and os.listdir(save_dir):
        raise FileExistsError(f'save_dir {save_dir} exists and is not empty')
    settings = dict(settings)
    settings['window_sizes'], settings['window_gaps'] = \
        scale_windows_by_rates(settings['sizes'], settings['gaps'],
                               settings['rates'])
    os.makedirs(osp.join(save_dir, 'images'), exist_ok=True)
    if settings['ann_dirs'] is not None:
        os.makedirs(osp.join(save_dir, 'annfiles'), exist_ok=True)
    tasks = collect_tasks(settings['img_dirs'], settings['ann_dirs'])
    worker = functools.partial(split_image, settings=settings)
    if settings['nproc'] > 1:
        results = track_parallel_progress(worker, tasks, settings['nproc'])
    else:
        results = track_progress(worker, tasks)
    summary = dict(
        settings={
            k: v
            for k, v in settings.items() if not k.startswith('window_')
        },
        window_sizes=settings['window_sizes'],
        window_gaps=settings['window_gaps'],
        num_images=len(results),
        num_patches=sum(r['num_patches'] for r in results),
        num_objects=sum(r['num_objects'] for r in results))
    with open(osp.join(save_dir, 'split_summary.json'), 'w') as f:
        json.dump(summary, f, indent=2)
    print(f'\n{summary["num_images"]} images -> {summary["num_patches"]} '
          f'patches, {summary["num_objects"]} object copies in {save_dir}')
    return results


def main(argv: Optional[Sequence[str]] = None) -> None:
    split_dataset(parse_args(argv))


if __name__ == '__main__':
    main(sys.argv[1:])
