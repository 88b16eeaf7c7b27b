"""Detect objects on one optical + SAR pair and draw them side by side.

Example (toy E2E-OSDet, see configs/e2e_osdet/README.md)::

    python demo/image_demo.py \
        data/toy_m4sar/optical/images/test/17.jpg \
        data/toy_m4sar/sar/images/test/17.jpg \
        configs/e2e_osdet/e2e-osdet_yolo11n-obb_toy_m4sar.py \
        work_dirs/e2e-osdet_yolo11n-obb_toy_m4sar/epoch_20.pth \
        --out-file pair_result.jpg --score-thr 0.03 --device cpu
"""
import argparse

from mmdet.apis import init_detector

from mmosar.apis import inference_paired_detector
from mmosar.registry import VISUALIZERS
from mmosar.utils import register_all_modules


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('optical', help='optical image file')
    parser.add_argument('sar', help='co-registered SAR image file')
    parser.add_argument('config', help='config file')
    parser.add_argument(
        'checkpoint',
        help='checkpoint file ("none": random weights, to try the pipeline)')
    parser.add_argument(
        '--out-file',
        default='pair_result.jpg',
        help='where to write the optical | SAR drawing')
    parser.add_argument(
        '--score-thr', type=float, default=0.3, help='drawing score threshold')
    parser.add_argument(
        '--device', default='cuda:0', help='device, e.g. cpu or cuda:0')
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    register_all_modules()
    checkpoint = None if args.checkpoint.lower() == 'none' else \
        args.checkpoint
    model = init_detector(args.config, checkpoint, device=args.device)
    result, pair = inference_paired_detector(model, args.optical, args.sar)
    scores = result.pred_instances.scores
    print(f'{int((scores >= args.score_thr).sum())} objects with score >= '
          f'{args.score_thr} (of {len(scores)} detections)')
    visualizer = VISUALIZERS.build(
        dict(type='PairedDetLocalVisualizer', name='image_demo'))
    visualizer.dataset_meta = model.dataset_meta
    visualizer.add_datasample(
        'pair',
        pair,
        data_sample=result,
        draw_gt=False,
        out_file=args.out_file,
        pred_score_thr=args.score_thr)
    print(f'drawing written to {args.out_file}')


if __name__ == '__main__':
    main()
