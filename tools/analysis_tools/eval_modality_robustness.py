"""Evaluate a paired optical-SAR detector with corrupted or missing modalities.

    python tools/analysis_tools/eval_modality_robustness.py CONFIG CHECKPOINT \
        [--out-dir DIR] [--conditions clean sar_zero ...] [--cfg-options ...]

Runs the config's test set once per condition, with
:class:`~mmosar.datasets.transforms.ModalityCorruption` inserted right after
the pair is loaded, and writes ``robustness.md`` / ``robustness.csv`` (one
row per condition: every metric the test evaluator reports, e.g. M4SARMetric
AP50 / AP75 / mAP) and ``robustness.png`` (a line chart per graded
corruption: speckle looks, optical haze and cloud cover, SAR misregistration
in pixels; missing and noise-replaced modalities as reference lines).

Conditions (``--conditions`` picks a subset by name):

=====================  =====================================================
``clean``              no corruption
``sar_zero``           SAR bands zeroed (SAR missing)
``optical_zero``       optical bands zeroed (optical missing)
``sar_noise``          SAR replaced by uniform noise
``optical_noise``      optical replaced by uniform noise
``sar_speckle_L``      SAR multiplied by gamma speckle of L looks (16 ... 1)
``optical_haze_S``     optical hazed, transmission 1 - S (S = 0.2 ... 0.8)
``optical_cloud_S``    optical clouded over a fraction S of the image
``sar_shift_S``        SAR shifted by (S, S/2) px (0.5 ... 8) vs optical
=====================  =====================================================
"""
import argparse
import csv
import os.path as osp
import re
from typing import Dict, List, Tuple

from mmengine.config import DictAction

from mmosar.utils.runner_utils import build_runner, load_tool_config

SPECKLE_LOOKS = (16, 8, 4, 2, 1)
HAZE = (0.2, 0.4, 0.6, 0.8)
CLOUD = (0.1, 0.25, 0.5, 0.75)
SHIFT = (0.5, 1, 2, 4, 8)


def default_conditions() -> Dict[str, dict]:
    """Name -> ``ModalityCorruption`` arguments, in report order."""
    conditions = {'clean': dict(condition='none')}
    for modality in ('sar', 'optical'):
        conditions[f'{modality}_zero'] = dict(condition='zero',
                                              modality=modality)
        conditions[f'{modality}_noise'] = dict(condition='noise',
                                               modality=modality)
    for looks in SPECKLE_LOOKS:
        conditions[f'sar_speckle_{looks:g}'] = dict(
            condition='speckle', modality='sar', severity=looks)
    for s in HAZE:
        conditions[f'optical_haze_{s:g}'] = dict(
            condition='haze', modality='optical', severity=s)
    for s in CLOUD:
        conditions[f'optical_cloud_{s:g}'] = dict(
            condition='cloud', modality='optical', severity=s)
    for s in SHIFT:
        conditions[f'sar_shift_{s:g}'] = dict(
            condition='shift', modality='sar', severity=s)
    return conditions


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('config')
    parser.add_argument('checkpoint')
    parser.add_argument('--out-dir', default=None,
                        help='default: <work_dir>/robustness')
    parser.add_argument('--conditions', nargs='+', default=None,
                        help='subset of the condition names (default all)')
    parser.add_argument('--seed', type=int, default=0,
                        help='seed of the random corruptions')
    parser.add_argument('--plot-keys', nargs='+', default=None,
                        help='metrics drawn in the chart (default '
                        'm4sar/AP50 and m4sar/mAP when evaluated)')
    parser.add_argument('--work-dir', default=None)
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    return parser.parse_args()


def corruption_step(transforms: List, corruption) -> List:
    """``transforms`` with ``corruption`` right after the loading step (the
    first transform, which must load the pair)."""
    first = type(transforms[0]).__name__
    if 'Load' not in first:
        raise ValueError('the test pipeline must start by loading the pair '
                         f'(LoadPairedImages), got {first}')
    return [transforms[0], corruption] + list(transforms[1:])


def evaluate_conditions(runner, conditions: Dict[str, dict],
                        seed: int = 0) -> Dict[str, Dict[str, float]]:
    """Metrics of ``runner``'s test set under each condition."""
    from mmosar.datasets.transforms import ModalityCorruption
    loop = runner.build_test_loop(runner._test_loop)
    runner._test_loop = loop
    pipeline = loop.dataloader.dataset.pipeline
    clean = list(pipeline.transforms)
    results = {}
    for i, (name, kwargs) in enumerate(conditions.items(), 1):
        runner.logger.info(f'[{i}/{len(conditions)}] condition {name}')
        pipeline.transforms = corruption_step(
            clean, ModalityCorruption(seed=seed, **kwargs))
        metrics = runner.test()
        results[name] = {k: float(v) for k, v in metrics.items()}
    pipeline.transforms = clean
    return results


def write_table(results: Dict[str, Dict[str, float]], out_dir: str) -> List:
    """``robustness.md`` and ``.csv``; returns the metric keys."""
    keys = sorted({k for m in results.values() for k in m})
    with open(osp.join(out_dir, 'robustness.csv'), 'w', newline='') as f:
        writer = csv.writer(f)
        writer.writerow(['condition'] + keys)
        for name, metrics in results.items():
            writer.writerow([name] + [metrics.get(k, '') for k in keys])
    lines = ['| condition | ' + ' | '.join(keys) + ' |',
             '|---' * (len(keys) + 1) + '|']
    for name, metrics in results.items():
        cells = [f'{metrics[k]:.4f}' if k in metrics else '' for k in keys]
        lines.append(f'| {name} | ' + ' | '.join(cells) + ' |')
    with open(osp.join(out_dir, 'robustness.md'), 'w') as f:
        f.write('\n'.join(lines) + '\n')
    return keys


def graded_series(results: Dict[str, Dict[str, float]], key: str
                  ) -> Dict[str, Tuple[List[float], List[float]]]:
    """Per graded family (``sar_speckle`` ...), the ``(severity, metric)``
    points present in ``results``."""
    series: Dict[str, Tuple[List[float], List[float]]] = {}
    for name, metrics in results.items():
        match = re.fullmatch(r'(\w+?)_([\d.]+)', name)
        if match is None or key not in metrics:
            continue
        xs, ys = series.setdefault(match.group(1), ([], []))
        xs.append(float(match.group(2)))
        ys.append(metrics[key])
    return series


def plot(results: Dict[str, Dict[str, float]], keys: List[str],
         out_file: str):
    """One panel per graded corruption, one line per metric; the clean,
    missing and noise conditions as horizontal reference lines."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    axes_names = {'sar_speckle': 'SAR speckle: looks (fewer = stronger)',
                  'optical_haze': 'optical haze: 1 - transmission',
                  'optical_cloud': 'optical cloud cover (fraction)',
                  'sar_shift': 'SAR shift vs optical (px)'}
    families = [f for f in axes_names
                if graded_series(results, keys[0]).get(f)]
    fig, axes = plt.subplots(1, max(len(families), 1),
                             figsize=(4.2 * max(len(families), 1), 3.6),
                             squeeze=False)
    refs = [n for n in ('clean', 'sar_zero', 'optical_zero', 'sar_noise',
                        'optical_noise') if n in results]
    for ax, family in zip(axes[0], families or [None]):
        for key in keys:
            if family is not None:
                xs, ys = graded_series(results, key)[family]
                ax.plot(xs, ys, marker='o', label=key)
        for j, ref in enumerate(refs):
            ax.axhline(results[ref].get(keys[0], float('nan')),
                       color=f'C{len(keys) + j}', linestyle='--',
                       linewidth=1, label=f'{ref} ({keys[0]})')
        if family == 'sar_speckle':
            ax.set_xscale('log', base=2)
            ax.invert_xaxis()
        ax.set_xlabel(axes_names.get(family, ''))
        ax.set_ylabel('metric')
    handles, names = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, names, loc='upper center', ncol=len(names),
               fontsize=7, frameon=False)
    fig.tight_layout(rect=(0, 0, 1, 0.9))
    fig.savefig(out_file, dpi=130)
    return fig


def main() -> None:
    args = parse_args()
    cfg = load_tool_config(args.config, args.cfg_options, args.work_dir)
    cfg.load_from = args.checkpoint
    conditions = default_conditions()
    if args.conditions:
        unknown = sorted(set(args.conditions) - set(conditions))
        if unknown:
            raise SystemExit(f'unknown conditions {unknown}; known: '
                             f'{list(conditions)}')
        conditions = {k: v for k, v in conditions.items()
                      if k in args.conditions}
    runner = build_runner(cfg)
    results = evaluate_conditions(runner, conditions, args.seed)
    out_dir = args.out_dir or osp.join(cfg.work_dir, 'robustness')
    import os
    os.makedirs(out_dir, exist_ok=True)
    keys = write_table(results, out_dir)
    headline = args.plot_keys or [
        k for k in ('m4sar/AP50', 'm4sar/mAP') if k in keys] or keys[:2]
    missing = sorted(set(headline) - set(keys))
    if missing:
        raise SystemExit(f'--plot-keys {missing} not among the metrics {keys}')
    plot(results, headline, osp.join(out_dir, 'robustness.png'))
    with open(osp.join(out_dir, 'robustness.md')) as f:
        print(f.read())
    print(f'wrote {out_dir}/robustness.{{md,csv,png}}')


if __name__ == '__main__':
    main()
