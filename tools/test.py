"""Test a checkpoint: ``python tools/test.py CONFIG CHECKPOINT [options]``."""
import argparse
import os

from mmengine.config import Config, DictAction

from mmosar.utils.registry_hints import unknown_type_hints
from mmosar.utils.runner_utils import (
    build_runner,
    enable_tta,
    load_tool_config,
)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Test a mmosar model')
    parser.add_argument('config', help='test config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument(
        '--work-dir', help='the dir to save the evaluation metrics')
    parser.add_argument(
        '--out', help='dump the predictions to this pickle file')
    parser.add_argument(
        '--show', action='store_true', help='show the predictions')
    parser.add_argument(
        '--show-dir',
        help='draw the predictions into this dir (inside work_dir/timestamp)')
    parser.add_argument(
        '--wait-time', type=float, default=2, help='--show interval (s)')
    parser.add_argument(
        '--tta',
        action='store_true',
        help='test-time augmentation: the config\'s tta_model and '
        'tta_pipeline, by default RotatedDetTTAModel over the unflipped '
        'and the horizontally, vertically and diagonally flipped images')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override config keys, e.g. test_evaluator.iou_thrs=0.5')
    parser.add_argument(
        '--launcher',
        choices=['none', 'pytorch', 'slurm', 'mpi'],
        default='none',
        help='job launcher')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args()
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    return args


def enable_visualization(cfg: Config, args: argparse.Namespace) -> None:
    """Switch on the visualization hook for --show / --show-dir."""
    hooks = cfg.default_hooks
    if 'visualization' not in hooks:
        raise RuntimeError(
            f'{args.config} has no `default_hooks.visualization`, so '
            '--show / --show-dir cannot draw predictions.')
    hooks.visualization.draw = True
    if args.show:
        hooks.visualization.show = True
        hooks.visualization.wait_time = args.wait_time
    if args.show_dir:
        hooks.visualization.test_out_dir = args.show_dir


def main() -> None:
    args = parse_args()
    cfg = load_tool_config(args.config, args.cfg_options, args.work_dir,
                           args.launcher)
    cfg.load_from = args.checkpoint
    if args.tta:
        enable_tta(cfg)
    if args.show or args.show_dir:
        enable_visualization(cfg, args)
    with unknown_type_hints():
        runner = build_runner(cfg)
        if args.out is not None:
            if not args.out.endswith(('.pkl', '.pickle')):
                raise ValueError(f'--out must be a .pkl file, got {args.out}')
            from mmengine.evaluator import DumpResults
            runner.test_evaluator.metrics.append(
                DumpResults(out_file_path=args.out))
        runner.test()


if __name__ == '__main__':
    main()
