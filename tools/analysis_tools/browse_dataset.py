"""Browse a dataset through its training pipeline.

Every sample of ``train_dataloader.dataset`` goes through the config's train
pipeline and is drawn by the config's visualizer (``RotLocalVisualizer`` for
rotated boxes; paired optical + SAR images appear as side-by-side panels).

Example::

    python tools/analysis_tools/browse_dataset.py \
        configs/rotated_retinanet/xxx.py --output-dir work_dirs/browse \
        --not-show
"""
import argparse
import os.path as osp

import numpy as np
from mmengine.config import Config, DictAction
from mmengine.registry import init_default_scope
from mmengine.utils import ProgressBar

from mmosar.registry import DATASETS, VISUALIZERS
from mmosar.utils import register_all_modules


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Draw the training samples of a config')
    parser.add_argument('config', help='config file path')
    parser.add_argument(
        '--output-dir',
        default=None,
        type=str,
        help='save the drawn images here (one file per sample)')
    parser.add_argument(
        '--not-show',
        default=False,
        action='store_true',
        help='do not open a window')
    parser.add_argument(
        '--show-interval',
        type=float,
        default=2,
        help='seconds each image is shown')
    parser.add_argument(
        '--max-samples',
        type=int,
        default=-1,
        help='stop after this many samples (-1: all)')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override config settings, xxx=yyy format')
    return parser.parse_args()


def to_display_image(inputs) -> np.ndarray:
    """C x H x W tensor from PackDetInputs -> H x W x C, optical BGR -> RGB.

    The optical image comes first in a paired sample and is loaded as BGR,
    so the first three channels are reversed when there are at least three.
    """
    img = inputs.permute(1, 2, 0).numpy()
    if img.shape[2] >= 3:
        img = np.concatenate([img[..., 2::-1], img[..., 3:]], axis=2)
    return img


def main() -> None:
    args = parse_args()
    cfg = Config.fromfile(args.config)
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    register_all_modules(init_default_scope=False)
    init_default_scope(cfg.get('default_scope', 'mmosar'))

    dataset = DATASETS.build(cfg.train_dataloader.dataset)
    visualizer = VISUALIZERS.build(cfg.visualizer)
    visualizer.dataset_meta = dataset.metainfo

    total = len(dataset) if args.max_samples < 0 else min(
        args.max_samples, len(dataset))
    progress_bar = ProgressBar(total)
    for index in range(total):
        item = dataset[index]
        data_sample = item['data_samples']
        img_path = data_sample.metainfo.get('img_path', f'{index}.png')
        out_file = osp.join(
            args.output_dir,
            osp.basename(img_path)) if args.output_dir is not None else None
        visualizer.add_datasample(
            osp.basename(img_path),
            to_display_image(item['inputs']),
            data_sample,
            draw_pred=False,
            show=not args.not_show,
            wait_time=args.show_interval,
            out_file=out_file)
        progress_bar.update()


if __name__ == '__main__':
    main()
