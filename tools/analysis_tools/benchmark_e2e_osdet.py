"""Speed of E2E-OSDet: training step throughput and inference latency.

* training: forward + backward + SGD step at ``--train-batch`` (default 2)
  images of ``--shape`` (default 512 x 512), on random paired input with a
  few random rotated boxes per image; reported as images / s;
* inference: ``model.test_step`` (pre-processing, network, decoding and
  rotated NMS) at batch 1, reported as ms / image;
* network: the forward alone (``mode='tensor'``: backbone, neck and head
  outputs) at batch 1, ms / image. With random weights the NMS of the full
  inference sees thousands of boxes, so this is the number to compare
  architectures by.

The first ``--warmup`` iterations of each are not timed. Besides wall-clock
time the CPU time of the process is printed: on a machine shared with other
jobs the wall time mostly measures the other jobs.

Example::

    python tools/analysis_tools/benchmark_e2e_osdet.py \
        configs/e2e_osdet/e2e-osdet_yolo11s-obb_300e_m4sar.py --device cpu
    python tools/analysis_tools/benchmark_e2e_osdet.py CONFIG \
        --device cuda --amp
"""
import argparse
import time
from contextlib import nullcontext
from typing import Callable, Dict, List

import numpy as np
import torch
from mmdet.structures import DetDataSample
from mmengine.config import Config
from mmengine.structures import InstanceData

from mmosar.registry import MODELS
from mmosar.structures.bbox import RotatedBoxes
from mmosar.utils import register_all_modules


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('config', help='config file')
    parser.add_argument('--shape', type=int, default=512, help='image size')
    parser.add_argument('--train-batch', type=int, default=2)
    parser.add_argument('--train-iters', type=int, default=3)
    parser.add_argument('--infer-iters', type=int, default=5)
    parser.add_argument('--warmup', type=int, default=1)
    parser.add_argument('--device', default='cpu', help='cpu or cuda')
    parser.add_argument(
        '--amp', action='store_true', help='autocast fp16 (CUDA only)')
    parser.add_argument('--threads', type=int, default=None)
    return parser.parse_args()


def make_batch(batch: int, size: int, channels: Dict[str, int],
               with_gt: bool) -> dict:
    """Random uint8 paired images and samples with 8 random rotated boxes."""
    rng = np.random.default_rng(0)
    inputs, samples = [], []
    for _ in range(batch):
        inputs.append(
            torch.randint(
                0,
                256, (sum(channels.values()), size, size),
                dtype=torch.uint8))
        sample = DetDataSample(
            metainfo=dict(
                img_shape=(size, size),
                ori_shape=(size, size),
                scale_factor=(1.0, 1.0),
                modality_channels=channels))
        if with_gt:
            boxes = np.concatenate([
                rng.uniform(32, size - 32, (8, 2)),
                rng.uniform(8, 64, (8, 2)),
                rng.uniform(-1.5, 1.5, (8, 1))
            ], 1)
            sample.gt_instances = InstanceData(
                bboxes=RotatedBoxes(torch.tensor(boxes, dtype=torch.float32)),
                labels=torch.tensor(rng.integers(0, 6, 8)))
        samples.append(sample)
    return dict(inputs=inputs, data_samples=samples)


def timed(step: Callable[[], None], iters: int, warmup: int,
          device: str) -> List[float]:
    """Wall and CPU seconds of each timed call of ``step``."""
    walls, cpus = [], []
    for i in range(warmup + iters):
        if device.startswith('cuda'):
            torch.cuda.synchronize()
        wall, cpu = time.perf_counter(), time.process_time()
        step()
        if device.startswith('cuda'):
            torch.cuda.synchronize()
        if i >= warmup:
            walls.append(time.perf_counter() - wall)
            cpus.append(time.process_time() - cpu)
    return [float(np.median(walls)), float(np.median(cpus))]


def main() -> None:
    args = parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.amp and not args.device.startswith('cuda'):
        raise SystemExit('--amp needs --device cuda')
    register_all_modules()
    cfg = Config.fromfile(args.config)
    channels = dict(
        cfg.model.backbone.get('modality_channels')
        or cfg.model.data_preprocessor.modality_channels)
    model = MODELS.build(cfg.model).to(args.device)
    params = sum(p.numel() for p in model.parameters())
    optimizer = torch.optim.SGD(
        model.parameters(), lr=1e-4, momentum=0.9, nesterov=True)
    autocast = torch.autocast('cuda', dtype=torch.float16) \
        if args.amp else nullcontext()
    scaler = torch.amp.GradScaler('cuda') if args.amp else None

    train_data = make_batch(args.train_batch, args.shape, channels, True)

    def train_step() -> None:
        model.train()
        data = model.data_preprocessor(train_data, True)
        with autocast:
            losses = model(**data, mode='loss')
        loss = sum(v for v in losses.values())
        optimizer.zero_grad()
        if scaler is not None:
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
        else:
            loss.backward()
            optimizer.step()

    test_data = make_batch(1, args.shape, channels, False)

    def infer_step() -> None:
        model.eval()
        with torch.no_grad(), autocast:
            model.test_step(test_data)

    def network_step() -> None:
        model.eval()
        data = model.data_preprocessor(test_data, False)
        with torch.no_grad(), autocast:
            model(data['inputs'], mode='tensor')

    train_wall, train_cpu = timed(train_step, args.train_iters, args.warmup,
                                  args.device)
    net_wall, net_cpu = timed(network_step, args.infer_iters, args.warmup,
                              args.device)
    infer_wall, infer_cpu = timed(infer_step, args.infer_iters, args.warmup,
                                  args.device)
    print(f'config: {args.config}')
    print(f'device: {args.device}{" (amp)" if args.amp else ""}, threads '
          f'{torch.get_num_threads()}, params {params / 1e6:.2f} M, input '
          f'{sum(channels.values())} x {args.shape} x {args.shape}')
    print(f'train step (batch {args.train_batch}): {train_wall:.2f} s wall '
          f'({args.train_batch / train_wall:.2f} img/s), {train_cpu:.2f} s '
          'process CPU')
    print(f'inference (batch 1): {infer_wall * 1e3:.0f} ms wall, '
          f'{infer_cpu * 1e3:.0f} ms process CPU')
    print(f'network (batch 1): {net_wall * 1e3:.0f} ms wall, '
          f'{net_cpu * 1e3:.0f} ms process CPU')


if __name__ == '__main__':
    main()
