"""Export a rotated detector (E2E-OSDet family, rotated RetinaNet) to ONNX.

The graph takes the data preprocessor's output (``(1, C, H, W)`` float32,
normalised and padded; paired models: optical bands then SAR bands) and
returns dense decoded ``boxes (1, A, 5)`` and ``scores (1, A, K)``; score
threshold, top-k, rotated NMS and ``max_per_img`` are the numpy step
``mmosar.deployment.postprocess.postprocess_detections`` (settings stored in
the ONNX metadata). See docs/tools/export_onnx.md.

Example::

    python tools/deployment/export_onnx.py \\
        configs/e2e_osdet/e2e-osdet_yolo11n-obb_toy_m4sar.py \\
        work_dirs/toy/epoch_40.pth --out e2e_osdet_toy.onnx --shape 256 \\
        --verify
"""
import argparse
import time

import numpy as np
import torch
from mmengine.config import DictAction

from mmosar.deployment.onnx_export import (
    DEFAULT_OPSET,
    EXPORTERS,
    POSTPROCESS_MODES,
    DenseRotatedDetector,
    GraphNMSDetector,
    export_onnx,
    input_channels,
    load_detector,
)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('config', help='model config file')
    parser.add_argument(
        'checkpoint',
        help='checkpoint file; "none" keeps random initial weights '
        '(numerics checks only)')
    parser.add_argument('--out', default='model.onnx', help='ONNX file')
    parser.add_argument(
        '--shape',
        type=int,
        nargs='+',
        default=[512],
        help='static input size: H (square) or H W; a multiple of the '
        'largest stride (32 for E2E-OSDet, 128 for RetinaNet P7)')
    parser.add_argument(
        '--opset', type=int, default=DEFAULT_OPSET, help='ONNX opset')
    parser.add_argument(
        '--exporter',
        choices=EXPORTERS,
        default='dynamo',
        help='torch.export-based exporter (default) or the faster legacy '
        'TorchScript tracer')
    parser.add_argument(
        '--postprocess',
        choices=POSTPROCESS_MODES,
        default='numpy',
        help='numpy: dense boxes/scores, NMS by '
        'mmosar.deployment.postprocess (default, any supported head); '
        'graph: ProbIoU NMS in the graph (YOLO-OBB heads with '
        "test_cfg.nms.type='probiou_nms')")
    parser.add_argument(
        '--max-candidates',
        type=int,
        default=1000,
        help='--postprocess graph: (prior, class) candidates entering the '
        'NMS; exact while at most this many pass score_thr')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override config keys, e.g. '
        'model.test_cfg.nms.type=probiou_nms')
    parser.add_argument(
        '--verify',
        action='store_true',
        help='run the exported graph with onnxruntime (CPU) on a random '
        'input and print its deviation from PyTorch')
    return parser.parse_args()


def verify(wrapper: torch.nn.Module, path: str, in_channels: int,
           shape) -> None:
    """Print the worst relative deviation (max |ort - torch| / max |torch|)
    of every output on a random input in [0, 1)."""
    import onnxruntime as ort

    inputs = torch.rand(1, in_channels, *shape, generator=torch.Generator()
                        .manual_seed(0))
    session = ort.InferenceSession(path, providers=['CPUExecutionProvider'])
    got = session.run(None, {session.get_inputs()[0].name: inputs.numpy()})
    with torch.no_grad():
        expected = wrapper(inputs)
    names = [output.name for output in session.get_outputs()]
    if 'labels' in names:
        # final detections: near-tied scores may reorder them, so compare
        # the counts and the sorted scores (random weights tie massively)
        found = [int((labels >= 0).sum()) for labels in (got[2],
                                                          expected[2])]
        common = min(found)
        diff = np.abs(got[1][0, :common] - expected[1][0, :common].numpy())
        print(f'detections: onnx {found[0]}, torch {found[1]}; max score '
              f'deviation over the first {common}: '
              f'{diff.max() if common else 0.0:.2e}')
        return
    for name, a, e in zip(names, got, expected):
        e = e.numpy()
        rel = np.abs(a - e).max() / max(np.abs(e).max(), 1e-12)
        print(f'{name} {tuple(a.shape)}: max relative deviation {rel:.2e}')


def main() -> None:
    args = parse_args()
    shape = args.shape * 2 if len(args.shape) == 1 else args.shape
    if len(shape) != 2:
        raise SystemExit(f'--shape takes H or H W, got {args.shape}')
    checkpoint = None if args.checkpoint.lower() == 'none' else (
        args.checkpoint)
    detector = load_detector(args.config, checkpoint, args.cfg_options)
    channels = input_channels(detector)
    start = time.perf_counter()
    post = export_onnx(detector, channels, shape, args.out, args.opset,
                       args.exporter, args.postprocess, args.max_candidates)
    print(f'wrote {args.out} ({channels} x {shape[0]} x {shape[1]} input, '
          f'opset {args.opset}, {time.perf_counter() - start:.1f} s); '
          f'post-processing: {post}')
    if args.verify:
        wrapper = (
            GraphNMSDetector(detector, args.max_candidates)
            if args.postprocess == 'graph' else DenseRotatedDetector(detector))
        verify(wrapper, args.out, channels, shape)


if __name__ == '__main__':
    main()
