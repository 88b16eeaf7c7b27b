"""Speed of any mmosar detector: inference latency / images per second, and
optionally the training step.

    python tools/analysis_tools/benchmark.py CONFIG [CHECKPOINT] \
        [--device cpu|cuda] [--batch 1] [--shape 512] [--warmup 3] \
        [--repeat 10] [--amp] [--train] [--train-batch 2] [--threads N]

Inference is ``model.test_step`` (data pre-processing, network, decoding and
NMS) on random images of the config's band count (a paired optical+SAR model
gets all its bands, e.g. 6), reported per image and as images / s; the
network alone (``mode='tensor'``: backbone, neck and head outputs, no
decoding or NMS) is timed too, because an untrained model's NMS over
thousands of low-score boxes can dominate the full step. With
``--train``, also the training step (pre-processing, forward, losses,
backward and an SGD step) on random images with 8 random boxes each, of the
box type the config trains on (``rbox`` when its training pipeline converts
to rotated boxes, else horizontal boxes). ``--amp``: autocast in float16 on
CUDA, bfloat16 on CPU.

The first ``--warmup`` calls are not timed; the median of ``--repeat`` timed
calls is reported, with the process CPU time beside the wall time (on a
machine shared with other jobs the wall time also measures them). CUDA is
synchronised around each timed call.
"""
import argparse
import json
import time
from contextlib import nullcontext
from typing import Callable, Dict, List, Optional

import numpy as np
import torch
from mmdet.structures import DetDataSample
from mmdet.structures.bbox import HorizontalBoxes
from mmengine.config import Config, DictAction
from mmengine.structures import InstanceData


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('config')
    parser.add_argument('checkpoint', nargs='?', default=None,
                        help='weights (default: random initialisation)')
    parser.add_argument('--device', default='cpu')
    parser.add_argument('--batch', type=int, default=1,
                        help='inference batch size')
    parser.add_argument('--shape', type=int, nargs='+', default=[512],
                        help='input size: S or H W')
    parser.add_argument('--warmup', type=int, default=3)
    parser.add_argument('--repeat', type=int, default=10)
    parser.add_argument('--amp', action='store_true',
                        help='float16 autocast on CUDA, bfloat16 on CPU')
    parser.add_argument('--train', action='store_true',
                        help='also time the training step')
    parser.add_argument('--train-batch', type=int, default=2)
    parser.add_argument('--threads', type=int, default=None,
                        help='torch CPU threads')
    parser.add_argument('--json', default=None,
                        help='also write the figures to this JSON file')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    return parser.parse_args()


def input_channels(cfg: Config) -> Dict[str, int]:
    """Bands per modality the model takes (``{'image': 3}`` when not
    paired)."""
    for part in (cfg.model.get('data_preprocessor', {}),
                 cfg.model.get('backbone', {})):
        channels = part.get('modality_channels')
        if channels:
            return dict(channels)
    return {'image': 3}


def trains_on_rboxes(cfg: Config) -> bool:
    """Whether the config's training pipeline makes rotated boxes."""
    text = json.dumps(cfg.get('train_dataloader', {}), default=str)
    return "'rbox'" in text or '"rbox"' in text


def random_batch(batch: int, shape: List[int], channels: Dict[str, int],
                 boxes: Optional[str] = None, seed: int = 0) -> dict:
    """A batch as the dataloader gives it: uint8 images (C, H, W) and data
    samples; with ``boxes`` ('rbox' / 'hbox') 8 random objects each."""
    from mmosar.structures.bbox import RotatedBoxes
    h, w = shape
    rng = np.random.default_rng(seed)
    gen = torch.Generator().manual_seed(seed)
    inputs, samples = [], []
    meta = dict(img_shape=(h, w), ori_shape=(h, w), pad_shape=(h, w),
                scale_factor=(1.0, 1.0), batch_input_shape=(h, w))
    if len(channels) > 1 or 'image' not in channels:
        meta['modality_channels'] = channels
    for _ in range(batch):
        inputs.append(torch.randint(0, 256, (sum(channels.values()), h, w),
                                    dtype=torch.uint8, generator=gen))
        sample = DetDataSample(metainfo=meta)
        if boxes is not None:
            centre = rng.uniform(0.2, 0.8, (8, 2)) * (w, h)
            size = rng.uniform(0.05, 0.2, (8, 2)) * min(h, w)
            if boxes == 'rbox':
                box = RotatedBoxes(torch.tensor(np.concatenate(
                    [centre, size, rng.uniform(-1.5, 1.5, (8, 1))], 1),
                    dtype=torch.float32))
            else:
                box = HorizontalBoxes(torch.tensor(np.concatenate(
                    [centre - size / 2, centre + size / 2], 1),
                    dtype=torch.float32))
            sample.gt_instances = InstanceData(
                bboxes=box, labels=torch.tensor(rng.integers(0, 1, 8)))
        samples.append(sample)
    return dict(inputs=inputs, data_samples=samples)


def time_calls(step: Callable[[], None], warmup: int, repeat: int,
               cuda: bool = False) -> Dict[str, float]:
    """Median wall and process-CPU seconds of ``repeat`` timed calls after
    ``warmup`` untimed ones."""
    if repeat < 1:
        raise ValueError(f'--repeat must be at least 1, got {repeat}')
    walls, cpus = [], []
    for i in range(warmup + repeat):
        if cuda:
            torch.cuda.synchronize()
        wall, cpu = time.perf_counter(), time.process_time()
        step()
        if cuda:
            torch.cuda.synchronize()
        if i >= warmup:
            walls.append(time.perf_counter() - wall)
            cpus.append(time.process_time() - cpu)
    return dict(wall=float(np.median(walls)), cpu=float(np.median(cpus)),
                wall_min=float(np.min(walls)), wall_max=float(np.max(walls)))


def benchmark(cfg: Config, checkpoint: Optional[str] = None,
              device: str = 'cpu', batch: int = 1,
              shape: Optional[List[int]] = None, warmup: int = 3,
              repeat: int = 10, amp: bool = False, train: bool = False,
              train_batch: int = 2) -> Dict[str, float]:
    """Build the config's model and time it; returns the figures."""
    from mmosar.registry import MODELS
    shape = list(shape or [512])
    shape = shape * 2 if len(shape) == 1 else shape
    channels = input_channels(cfg)
    model = MODELS.build(cfg.model)
    if checkpoint:
        from mmengine.runner import load_checkpoint
        load_checkpoint(model, checkpoint, map_location='cpu', strict=True)
    model.to(device)
    cuda = device.startswith('cuda')
    autocast = (torch.autocast('cuda' if cuda else 'cpu',
                               dtype=torch.float16 if cuda else torch.bfloat16)
                if amp else nullcontext())
    test_data = random_batch(batch, shape, channels)

    def infer() -> None:
        model.eval()
        with torch.no_grad(), autocast:
            model.test_step(test_data)

    def network() -> None:
        model.eval()
        data = model.data_preprocessor(test_data, False)
        with torch.no_grad(), autocast:
            model(data['inputs'], mode='tensor')

    result = dict(params_m=sum(p.numel() for p in model.parameters()) / 1e6,
                  bands=sum(channels.values()), height=shape[0],
                  width=shape[1], batch=batch)
    t = time_calls(infer, warmup, repeat, cuda)
    result.update(latency_ms=1e3 * t['wall'] / batch,
                  latency_cpu_ms=1e3 * t['cpu'] / batch,
                  images_per_s=batch / t['wall'],
                  batch_ms_min=1e3 * t['wall_min'],
                  batch_ms_max=1e3 * t['wall_max'])
    t = time_calls(network, warmup, repeat, cuda)
    result.update(network_ms=1e3 * t['wall'] / batch,
                  network_cpu_ms=1e3 * t['cpu'] / batch)
    if train:
        boxes = 'rbox' if trains_on_rboxes(cfg) else 'hbox'
        train_data = random_batch(train_batch, shape, channels, boxes)
        optimizer = torch.optim.SGD(model.parameters(), lr=1e-5,
                                    momentum=0.9)
        scaler = torch.amp.GradScaler('cuda') if (amp and cuda) else None

        def step() -> None:
            model.train()
            data = model.data_preprocessor(train_data, True)
            with autocast:
                losses = model(**data, mode='loss')
            loss, _ = model.parse_losses(losses)
            optimizer.zero_grad()
            if scaler is not None:
                scaler.scale(loss).backward()
                scaler.step(optimizer)
                scaler.update()
            else:
                loss.backward()
                optimizer.step()

        t = time_calls(step, warmup, repeat, cuda)
        result.update(train_batch=train_batch, train_step_s=t['wall'],
                      train_step_cpu_s=t['cpu'],
                      train_images_per_s=train_batch / t['wall'])
    return result


def main() -> None:
    args = parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    from mmosar.utils import register_all_modules
    register_all_modules()
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    r = benchmark(cfg, args.checkpoint, args.device, args.batch, args.shape,
                  args.warmup, args.repeat, args.amp, args.train,
                  args.train_batch)
    precision = ('AMP ' + ('fp16' if args.device.startswith('cuda')
                           else 'bf16')) if args.amp else 'fp32'
    print(f'config: {args.config}')
    print(f'device: {args.device}, {precision}, threads '
          f'{torch.get_num_threads()}, params {r["params_m"]:.2f} M, input '
          f'{r["bands"]} x {r["height"]} x {r["width"]}')
    print(f'inference (batch {r["batch"]}): {r["latency_ms"]:.1f} ms / image'
          f' wall ({r["images_per_s"]:.2f} img/s), '
          f'{r["latency_cpu_ms"]:.1f} ms process CPU; batch '
          f'{r["batch_ms_min"]:.1f}-{r["batch_ms_max"]:.1f} ms over '
          f'{args.repeat} runs')
    print(f'network only (batch {r["batch"]}): {r["network_ms"]:.1f} ms / '
          f'image wall, {r["network_cpu_ms"]:.1f} ms process CPU')
    if args.train:
        print(f'train step (batch {r["train_batch"]}): '
              f'{r["train_step_s"]:.3f} s wall '
              f'({r["train_images_per_s"]:.2f} img/s), '
              f'{r["train_step_cpu_s"]:.3f} s process CPU')
    if args.json:
        with open(args.json, 'w') as f:
            json.dump(dict(config=args.config, device=args.device,
                           precision=precision, **r), f, indent=2)


if __name__ == '__main__':
    main()
