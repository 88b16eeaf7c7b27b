"""Training-step time and peak memory: student alone vs IFKD distillation.

``python tools/analysis_tools/benchmark_distill.py [IFKD_CONFIG] [options]``

Each mode runs in its own subprocess (so the peak resident memory of one
does not hide the other's) on the same synthetic batch (random images, one
box per image, a cached-style EDE mask as ``gt_sem_seg``): forward, loss,
backward and an SGD step, timed after warm-up. IFKD runs with
``ede_mask_source='cache'`` (no external model in the loop). The teacher
is built without its checkpoint (weights do not change the cost).
Target: IFKD adds at most 60 % to the student's step time.
"""
import argparse
import json
import resource
import statistics
import subprocess
import sys
import time

import torch

DEFAULT_CONFIG = 'configs/ifkd/ifkd_retinanet_r50-r18_fpn_100e_sar-aircraft.py'


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('config', nargs='?', default=DEFAULT_CONFIG)
    parser.add_argument('--size', type=int, default=512, help='image side')
    parser.add_argument('--batch', type=int, default=2)
    parser.add_argument('--iters', type=int, default=5)
    parser.add_argument('--warmup', type=int, default=2)
    parser.add_argument('--threads', type=int, default=2)
    parser.add_argument('--mode', choices=['student', 'ifkd'],
                        help='internal: run one mode and print JSON')
    return parser.parse_args()


def synthetic_batch(size: int, n: int):
    from mmdet.structures import DetDataSample
    from mmengine.structures import InstanceData, PixelData
    torch.manual_seed(0)
    samples = []
    for i in range(n):
        sample = DetDataSample(
            metainfo=dict(img_shape=(size, size), pad_shape=(size, size),
                          batch_input_shape=(size, size),
                          ori_shape=(size, size), scale_factor=(1.0, 1.0)))
        sample.gt_instances = InstanceData(
            bboxes=torch.tensor([[size * 0.2, size * 0.3, size * 0.5,
                                  size * 0.6]]),
            labels=torch.tensor([i % 3]))
        sample.gt_sem_seg = PixelData(sem_seg=torch.randint(
            0, 256, (1, size, size), dtype=torch.uint8))
        samples.append(sample)
    return torch.randn(n, 3, size, size), samples


def run_mode(args: argparse.Namespace) -> dict:
    from mmengine.config import Config

    from mmosar.models.distillers.ifkd_distiller import model_config
    from mmosar.registry import MODELS
    from mmosar.utils import register_all_modules
    torch.set_num_threads(args.threads)
    register_all_modules(init_default_scope=True)
    cfg = Config.fromfile(args.config)
    if args.mode == 'student':
        model = MODELS.build(model_config(cfg.model.student, 'student'))
    else:
        cfg.model.update(teacher_ckpt=None, ede_mask_source='cache')
        model = MODELS.build(cfg.model)
    model.train()
    params = [p for p in model.parameters() if p.requires_grad]
    optim = torch.optim.SGD(params, lr=1e-4, momentum=0.9)
    inputs, samples = synthetic_batch(args.size, args.batch)
    times = []
    for i in range(args.warmup + args.iters):
        start = time.perf_counter()
        losses = model.loss(inputs, samples)
        loss, _ = model.parse_losses(losses)
        optim.zero_grad()
        loss.backward()
        optim.step()
        if i >= args.warmup:
            times.append(time.perf_counter() - start)
    return dict(
        mode=args.mode,
        step_s=statistics.median(times),
        step_s_all=times,
        peak_rss_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss /
        1024,
        trainable_params=sum(p.numel() for p in params))


def main() -> None:
    args = parse_args()
    if args.mode:
        print(json.dumps(run_mode(args)))
        return
    results = {}
    for mode in ('student', 'ifkd'):
        cmd = [sys.executable, __file__, args.config, '--mode', mode]
        for key in ('size', 'batch', 'iters', 'warmup', 'threads'):
            cmd += [f'--{key}', str(getattr(args, key))]
        out = subprocess.run(cmd, capture_output=True, text=True)
        if out.returncode:
            raise SystemExit(f'{mode} run failed:\n{out.stderr}')
        results[mode] = json.loads(out.stdout.strip().splitlines()[-1])
    s, d = results['student'], results['ifkd']
    ratio = d['step_s'] / s['step_s']
    print(f'config: {args.config}')
    print(f'batch {args.batch} x {args.size}x{args.size}, CPU, '
          f'{args.threads} threads, median of {args.iters} steps '
          f'after {args.warmup} warm-up, torch {torch.__version__}')
    print(f'{"mode":10s}{"step (s)":>10s}{"peak RSS (MB)":>16s}'
          f'{"trainable params":>18s}')
    for r in (s, d):
        print(f'{r["mode"]:10s}{r["step_s"]:10.3f}{r["peak_rss_mb"]:16.0f}'
              f'{r["trainable_params"]:18,d}')
    print(f'IFKD / student step time: {ratio:.2f} '
          f'(+{100 * (ratio - 1):.0f} %, target <= +60 %: '
          f'{"met" if ratio <= 1.6 else "NOT met"})')
    print(f'IFKD / student peak memory: '
          f'{d["peak_rss_mb"] / s["peak_rss_mb"]:.2f}')


if __name__ == '__main__':
    main()
