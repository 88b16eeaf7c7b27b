"""DOTA test-server submission files (Task1, oriented boxes).

Merging split-patch predictions back into whole images is
:func:`mmosar.evaluation.functional.patch_merge.merge_patch_results`.
"""
import os
import os.path as osp
import zipfile
from typing import List, Sequence

import numpy as np
import torch

from mmosar.structures.bbox import rbox2qbox


def write_dota_task1(results: Sequence[dict], classes: Sequence[str],
                     outfile_prefix: str) -> str:
    """Write DOTA Task1 (oriented boxes) result files and zip them.

    One ``Task1_<class>.txt`` per class is written into the directory
    ``outfile_prefix``, a line per detection: ``img_id score x1 y1 x2 y2 x3
    y3 x4 y4`` (score ``%.4f``, corners ``%.2f``, corner order of
    :func:`rbox2qbox`); the files are zipped into
    ``<outfile_prefix>/<basename of outfile_prefix>.zip``.

    Args:
        results (Sequence[dict]): One dict per image with ``img_id``,
            ``pred_bboxes`` (N, 5), ``pred_scores`` (N, ), ``pred_labels``
            (N, ) numpy arrays.
        classes (Sequence[str]): Class names, indexed by label.
        outfile_prefix (str): Output directory (created if missing).

    Returns:
        str: Path of the zip file.
    """
    os.makedirs(outfile_prefix, exist_ok=True)
    lines: List[List[str]] = [[] for _ in classes]
    for result in results:
        labels = result['pred_labels']
        if labels.size and (labels.min() < 0 or labels.max() >= len(classes)):
            raise ValueError(
                f'image {result["img_id"]!r} has predicted labels outside '
                f'[0, {len(classes)}) of the {len(classes)} dataset classes')
        corners = rbox2qbox(torch.from_numpy(
            result['pred_bboxes'].astype(np.float64))).numpy()
        for label, score, quad in zip(labels, result['pred_scores'],
                                      corners):
            coords = ' '.join(f'{v:.2f}' for v in quad)
            lines[label].append(f'{result["img_id"]} {score:.4f} {coords}\n')
    txt_files = []
    for name, class_lines in zip(classes, lines):
        txt_file = osp.join(outfile_prefix, f'Task1_{name}.txt')
        with open(txt_file, 'w') as f:
            f.writelines(class_lines)
        txt_files.append(txt_file)
    base = osp.basename(osp.normpath(outfile_prefix))
    zip_path = osp.join(outfile_prefix, f'{base}.zip')
    with zipfile.ZipFile(zip_path, 'w', zipfile.ZIP_DEFLATED) as archive:
        for txt_file in txt_files:
            archive.write(txt_file, osp.basename(txt_file))
    return zip_path
