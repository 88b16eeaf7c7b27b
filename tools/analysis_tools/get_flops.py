"""Parameters and FLOPs of a detector's inference forward (no post-processing).

The model runs in ``mode='tensor'`` (backbone, neck and head outputs) on one
synthetic image of ``--shape`` whose band count comes from the config
(``modality_channels`` of the backbone or the data preprocessor, e.g. 3
optical + 3 SAR bands = 6 for E2E-OSDet; otherwise the backbone's
``in_channels``, default 3). Operators are counted by mmengine's jit-based
``FlopAnalyzer`` (the engine of ``get_model_complexity_info``): one
multiply-add counts as one FLOP (fvcore convention, i.e. MACs; Ultralytics'
"GFLOPs" are twice that). Custom autograd functions are invisible to the
tracer, so the selective scans of CMIM are added analytically
(``9 L D N + L D`` per scan direction, VMamba's estimate, halved to the MAC
convention).

Example::

    python tools/analysis_tools/get_flops.py \
        configs/e2e_osdet/e2e-osdet_yolo11s-obb_300e_m4sar.py --shape 512
    python tools/analysis_tools/get_flops.py CONFIG --shape 512 512
"""
import argparse
from typing import Dict, Sequence

import torch
from mmdet.structures import DetDataSample
from mmengine.analysis import FlopAnalyzer
from mmengine.config import Config
from torch import nn

from mmosar.registry import MODELS
from mmosar.utils import register_all_modules


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('config', help='config file')
    parser.add_argument(
        '--shape',
        type=int,
        nargs='+',
        default=[512],
        help='input height [width]')
    return parser.parse_args()


def input_channels(cfg: Config) -> int:
    """Band count of the (paired) input, read from the model config."""
    for part in (cfg.model.get('backbone',
                               {}), cfg.model.get('data_preprocessor', {})):
        channels = part.get('modality_channels')
        if channels:
            return sum(channels.values())
    return cfg.model.get('backbone', {}).get('in_channels', 3)


def synthetic_batch(shape: Sequence[int], channels: int) -> dict:
    """One random image ``(1, channels, H, W)`` and its data sample."""
    height, width = shape
    sample = DetDataSample(
        metainfo=dict(
            img_shape=(height, width),
            ori_shape=(height, width),
            pad_shape=(height, width),
            batch_input_shape=(height, width),
            scale_factor=(1.0, 1.0)))
    return dict(
        inputs=torch.rand(1, channels, height, width), data_samples=[sample])


class TensorForward(nn.Module):
    """``model(inputs, data_samples, mode='tensor')`` for the tracer."""

    def __init__(self, model: nn.Module, data_samples: list) -> None:
        super().__init__()
        self.model = model
        self.data_samples = data_samples

    def forward(self, inputs: torch.Tensor):
        return self.model(inputs, self.data_samples, mode='tensor')


def selective_scan_flops(model: nn.Module, shape: Sequence[int]) -> int:
    """Analytic FLOPs (MAC convention) of the CMIM scans of E2E-OSDet."""
    backbone = getattr(model, 'backbone', None)
    if not getattr(backbone, 'use_cmim', False):
        return 0
    total = 0
    for cmim, stride in zip(backbone.cmims, (8, 16, 32)):
        tokens = 2 * (-(-shape[0] // stride)) * (-(-shape[1] // stride))
        per_direction = 9 * tokens * cmim.d_inner * cmim.d_state + \
            tokens * cmim.d_inner
        total += cmim.num_directions * per_direction // 2
    return total


def model_complexity(model: nn.Module, batch: dict) -> Dict[str, object]:
    """FLOPs and parameters of ``model`` on ``batch`` (eval mode).

    Returns:
        dict: ``flops`` (traced + analytic scans), ``traced_flops``,
        ``scan_flops``, ``params`` and ``flops_by_module`` (top level).
    """
    model = model.eval()
    analyzer = FlopAnalyzer(
        TensorForward(model, batch['data_samples']), (batch['inputs'], ))
    analyzer.unsupported_ops_warnings(False)
    analyzer.uncalled_modules_warnings(False)
    with torch.no_grad():
        traced = analyzer.total()
    scan = selective_scan_flops(model, batch['inputs'].shape[-2:])
    by_module = {
        name[len('model.'):]: flops
        for name, flops in analyzer.by_module().items() if name.count('.') == 1
    }
    return dict(
        flops=traced + scan,
        traced_flops=traced,
        scan_flops=scan,
        params=sum(p.numel() for p in model.parameters()),
        flops_by_module=by_module)


def main() -> None:
    args = parse_args()
    register_all_modules()
    shape = (args.shape[0], args.shape[-1])
    cfg = Config.fromfile(args.config)
    channels = input_channels(cfg)
    model = MODELS.build(cfg.model)
    info = model_complexity(model, synthetic_batch(shape, channels))
    print(f'config: {args.config}')
    print(f'input: 1 x {channels} x {shape[0]} x {shape[1]}')
    print(f'parameters: {info["params"] / 1e6:.3f} M')
    for name, flops in info['flops_by_module'].items():
        print(f'  {name}: {flops / 1e9:.2f} GFLOPs')
    if info['scan_flops']:
        print('  + selective scans (analytic): '
              f'{info["scan_flops"] / 1e9:.2f} GFLOPs')
    print(f'total: {info["flops"] / 1e9:.2f} GFLOPs (1 multiply-add = 1 '
          f'FLOP; x2 = {2 * info["flops"] / 1e9:.2f} in Ultralytics\' '
          'convention)')


if __name__ == '__main__':
    main()
