"""The README demo: toy M4-SAR -> train -> evaluate -> picture, on CPU.

    python demo/toy_demo.py [--config CONFIG] [--work-dir DIR]

1. generates a small synthetic M4-SAR dataset in the released on-disk format
   (``tools/data/make_toy_m4sar.py``) unless it already exists;
2. trains the paired detector of ``--config`` for its (short) schedule;
3. evaluates it on the toy test split: the metrics print their tables;
4. draws the optical and SAR test images side by side with the detections
   and saves the first one as ``WORK_DIR/demo.png``.
"""
import argparse
import os.path as osp
import subprocess
import sys
from glob import glob

import mmcv
from mmengine.config import DictAction

from mmosar.utils.runner_utils import build_runner, load_tool_config

REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
DEFAULT_CONFIG = 'configs/e2e_osdet/e2e-osdet_yolo11n-obb_toy_m4sar.py'


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--config', default=DEFAULT_CONFIG)
    parser.add_argument('--work-dir', default='work_dirs/toy_demo')
    parser.add_argument(
        '--data-root',
        default='data/toy_m4sar',
        help='where the toy dataset is (generated when missing); must match '
        'the data_root of the config')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override config keys, e.g. train_cfg.max_epochs=2')
    return parser.parse_args()


def ensure_toy_dataset(data_root: str) -> None:
    """Generate the toy M4-SAR set with the project's tool if it is absent."""
    if osp.isdir(osp.join(data_root, 'optical')):
        print(f'using the toy M4-SAR dataset in {data_root}')
        return
    print(f'generating a toy M4-SAR dataset in {data_root}')
    subprocess.run([
        sys.executable,
        osp.join(REPO_ROOT, 'tools', 'data', 'make_toy_m4sar.py'), data_root
    ],
                   check=True)


def main() -> None:
    args = parse_args()
    ensure_toy_dataset(args.data_root)
    cfg = load_tool_config(args.config, args.cfg_options, args.work_dir)
    visualization = cfg.default_hooks.visualization
    visualization.draw = True
    visualization.test_out_dir = 'pictures'

    runner = build_runner(cfg)
    runner.train()
    metrics = runner.test()
    print('\nmetrics on the toy test split:')
    for name, value in metrics.items():
        print(f'  {name}: {value:.4f}')

    drawn = sorted(
        glob(osp.join(runner.work_dir, runner.timestamp, 'pictures', '*')))
    if not drawn:
        raise RuntimeError('the visualization hook drew no test picture')
    picture = osp.join(runner.work_dir, 'demo.png')
    mmcv.imwrite(mmcv.imread(drawn[0]), picture)  # the hook writes .jpg
    print(f'\noptical | SAR with detections: {picture} '
          f'({len(drawn)} pictures in {osp.dirname(drawn[0])})')


if __name__ == '__main__':
    main()
