"""Confusion matrix of a rotated detector's test predictions.

    python tools/test.py CONFIG CHECKPOINT --out results.pkl
    python tools/analysis_tools/confusion_matrix.py CONFIG results.pkl \
        SAVE_DIR [--score-thr 0.3] [--tp-iou-thr 0.5] [--nms-iou-thr 0.1] \
        [--color-theme plasma] [--show]

Follows mmdet's tool of the same name, with exact polygon IoU (see
:func:`mmosar.evaluation.functional.rotated_confusion_matrix` for the
counting rules). Rows are ground-truth classes, columns predictions, the last
row / column the background. Writes ``confusion_matrix.png`` (each row
normalised to percent, the counts in brackets) and ``confusion_matrix.csv``
(raw counts) to SAVE_DIR. The class names come from the config's test
dataset (its ``metainfo``, else the dataset class's ``METAINFO``; the data
need not be present).
"""
import argparse
import csv
from pathlib import Path
from typing import Any, Dict, List, Sequence

import numpy as np
from mmengine.config import Config, DictAction
from mmengine.fileio import load

from mmosar.evaluation.functional import rotated_confusion_matrix


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('config', help='config of the test dataset')
    parser.add_argument('prediction_path',
                        help='results.pkl from tools/test.py --out')
    parser.add_argument('save_dir', help='folder for the picture and CSV')
    parser.add_argument('--score-thr', type=float, default=0.3)
    parser.add_argument('--tp-iou-thr', type=float, default=0.5)
    parser.add_argument('--nms-iou-thr', type=float, default=None,
                        help='per-class rotated NMS before counting')
    parser.add_argument('--color-theme', default='plasma')
    parser.add_argument('--show', action='store_true')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config keys')
    return parser.parse_args()


def dataset_classes(dataset_cfg: dict) -> List[str]:
    """Class names of a dataset config: its ``metainfo['classes']`` when the
    config sets them, else the dataset class's ``METAINFO`` (the data need
    not be present)."""
    from mmosar.registry import DATASETS
    classes = (dataset_cfg.get('metainfo') or {}).get('classes')
    if classes:
        return list(classes)
    dataset_type = DATASETS.get(dataset_cfg['type'])
    if dataset_type is None:
        raise KeyError(f'unknown dataset type {dataset_cfg["type"]!r}')
    return list(dataset_type.METAINFO['classes'])


def _field(obj: Any, name: str) -> Any:
    return obj[name] if isinstance(obj, dict) else getattr(obj, name)


def _array(value: Any, width: int = 0) -> np.ndarray:
    value = getattr(value, 'tensor', value)  # RotatedBoxes -> tensor
    if hasattr(value, 'detach'):
        value = value.detach().cpu().numpy()
    value = np.asarray(value)
    return value.reshape(-1, width) if width else value.reshape(-1)


def results_from_samples(samples: Sequence[Any]) -> List[Dict]:
    """Per-image arrays from the data samples ``tools/test.py --out``
    dumps (dicts or DetDataSamples)."""
    results = []
    for i, sample in enumerate(samples):
        try:
            gt, pred = (_field(sample, 'gt_instances'),
                        _field(sample, 'pred_instances'))
        except (KeyError, AttributeError):
            raise ValueError(f'sample {i} has no gt_instances / '
                             'pred_instances: dump with tools/test.py --out')
        result = dict(gt_bboxes=_array(_field(gt, 'bboxes'), 5),
                      gt_labels=_array(_field(gt, 'labels')),
                      pred_bboxes=_array(_field(pred, 'bboxes'), 5),
                      pred_scores=_array(_field(pred, 'scores')),
                      pred_labels=_array(_field(pred, 'labels')))
        try:
            ignored = _field(sample, 'ignored_instances')
            result['ignored_bboxes'] = _array(_field(ignored, 'bboxes'), 5)
        except (KeyError, AttributeError):
            pass
        results.append(result)
    return results


def plot_confusion_matrix(matrix: np.ndarray, labels: Sequence[str],
                          out: str, color_theme: str = 'plasma',
                          show: bool = False):
    """Heat map of the row-normalised matrix (percent), counts annotated;
    returns the figure."""
    import matplotlib
    if not show:
        matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    rows = matrix.sum(axis=1, keepdims=True)
    percent = np.divide(100.0 * matrix, rows, out=np.zeros(matrix.shape),
                        where=rows > 0)
    n = len(labels)
    size = max(5.0, 0.6 * n + 2)
    fig, ax = plt.subplots(figsize=(size, size * 0.85))
    image = ax.imshow(percent, cmap=color_theme, vmin=0, vmax=100)
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label='% of row')
    ax.set_xticks(range(n), labels, rotation=45, ha='right')
    ax.set_yticks(range(n), labels)
    ax.set_xlabel('predicted')
    ax.set_ylabel('ground truth')
    ax.set_title('Normalised confusion matrix')
    for i in range(n):
        for j in range(n):
            if matrix[i, j]:
                ax.text(j, i, f'{percent[i, j]:.0f}\n({matrix[i, j]})',
                        ha='center', va='center', fontsize=7,
                        color='w' if percent[i, j] < 60 else 'k')
    fig.tight_layout()
    fig.savefig(out, dpi=150)
    if show:
        plt.show()
    return fig


def main() -> None:
    args = parse_args()
    from mmosar.utils import register_all_modules
    register_all_modules()
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    dataset_cfg = cfg.test_dataloader.dataset
    while 'dataset' in dataset_cfg and 'type' in dataset_cfg.get(
            'dataset', {}):  # wrappers (e.g. MultiImageMixDataset)
        dataset_cfg = dataset_cfg.dataset
    classes = dataset_classes(dataset_cfg)
    samples = load(args.prediction_path)
    matrix = rotated_confusion_matrix(
        results_from_samples(samples), len(classes), args.score_thr,
        args.tp_iou_thr, args.nms_iou_thr)
    save_dir = Path(args.save_dir)
    save_dir.mkdir(parents=True, exist_ok=True)
    labels = classes + ['background']
    with open(save_dir / 'confusion_matrix.csv', 'w', newline='') as f:
        writer = csv.writer(f)
        writer.writerow(['gt \\ pred'] + labels)
        for name, row in zip(labels, matrix):
            writer.writerow([name] + row.tolist())
    plot_confusion_matrix(matrix, labels,
                          str(save_dir / 'confusion_matrix.png'),
                          args.color_theme, args.show)
    print(f'{len(samples)} images; wrote {save_dir}/confusion_matrix.png '
          'and .csv')


if __name__ == '__main__':
    main()
