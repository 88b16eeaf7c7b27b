"""Detect objects on a huge remote-sensing image by sliding-window patches.

Example::

    python demo/huge_image_demo.py demo.png \
        configs/rotated_retinanet/<config>.py <checkpoint>.pth \
        --patch-sizes 1024 --patch-steps 824 --img-ratios 1.0 \
        --merge-iou-thr 0.1 --out-file result.jpg --device cpu
"""
import argparse

import mmcv
from mmdet.apis import init_detector

from mmosar.apis import inference_detector_by_patches
from mmosar.registry import VISUALIZERS
from mmosar.utils import register_all_modules


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('img', help='image file')
    parser.add_argument('config', help='config file')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument(
        '--patch-sizes',
        type=int,
        nargs='+',
        default=[1024],
        help='patch sizes (model input pixels)')
    parser.add_argument(
        '--patch-steps',
        type=int,
        nargs='+',
        default=[824],
        help='strides between patches, one per size')
    parser.add_argument(
        '--img-ratios',
        type=float,
        nargs='+',
        default=[1.0],
        help='image ratios for multi-scale inference')
    parser.add_argument(
        '--merge-iou-thr',
        type=float,
        default=0.1,
        help='IoU threshold of the per-class rotated NMS merge')
    parser.add_argument(
        '--batch-size', type=int, default=4, help='patches per forward')
    parser.add_argument(
        '--pad-value', type=int, default=0, help='fill of border patches')
    parser.add_argument('--out-file', default=None, help='drawn result')
    parser.add_argument(
        '--device', default='cuda:0', help='device, e.g. cpu or cuda:0')
    parser.add_argument(
        '--score-thr', type=float, default=0.3, help='drawing score threshold')
    return parser.parse_args()


def main():
    args = parse_args()
    register_all_modules()
    model = init_detector(args.config, args.checkpoint, device=args.device)
    result = inference_detector_by_patches(
        model,
        args.img,
        patch_sizes=args.patch_sizes,
        patch_steps=args.patch_steps,
        img_ratios=args.img_ratios,
        merge_iou_thr=args.merge_iou_thr,
        batch_size=args.batch_size,
        pad_value=args.pad_value)
    num = int((result.pred_instances.scores >= args.score_thr).sum())
    print(f'{num} objects with score >= {args.score_thr}')
    if args.out_file is None:
        return
    # The rotated visualizer draws rboxes / qboxes (and plain hboxes).
    visualizer = VISUALIZERS.build(
        dict(type='RotLocalVisualizer', name='huge_image_demo'))
    visualizer.dataset_meta = model.dataset_meta
    image = mmcv.imconvert(mmcv.imread(args.img), 'bgr', 'rgb')
    visualizer.add_datasample(
        'result',
        image,
        data_sample=result,
        draw_gt=False,
        pred_score_thr=args.score_thr,
        out_file=args.out_file)
    print(f'result drawn to {args.out_file}')


if __name__ == '__main__':
    main()
