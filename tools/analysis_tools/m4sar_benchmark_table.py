"""Evaluate M4-SAR checkpoints and write the benchmark table and chart.

``python tools/analysis_tools/m4sar_benchmark_table.py
NAME=CONFIG:CHECKPOINT [NAME=CONFIG:CHECKPOINT ...] --out-dir DIR
[--cfg-options KEY=VALUE ...]``

Each model is tested on its config's test split (the M4-SAR test set in the
``*_300e_m4sar.py`` configs, the toy set in the ``*_toy_m4sar.py`` ones)
with the evaluators ``M4SARMetric`` (the paper's AP50 / AP75 / mAP50:95,
ProbIoU matching) and ``DOTAMetric`` (DOTA protocol, polygon IoU, AP50).
Written to ``DIR``: ``benchmark.md`` (the table, in percent),
``benchmark.json`` (all metric values) and ``benchmark.png`` (grouped bars).
"""
import argparse
import json
import os
import os.path as osp
from typing import Dict, List, Sequence, Tuple

from mmengine.config import DictAction

#: (column title, metric key) of the table, values in percent
COLUMNS: Tuple[Tuple[str, str], ...] = (
    ('AP50', 'm4sar/AP50'),
    ('AP75', 'm4sar/AP75'),
    ('mAP', 'm4sar/mAP'),
    ('AP50 (DOTA)', 'dota/AP50'),
)
EVALUATORS = [dict(type='M4SARMetric'), dict(type='DOTAMetric',
                                              eval_mode='area')]


def parse_model_spec(spec: str) -> Tuple[str, str, str]:
    """``NAME=CONFIG:CHECKPOINT`` -> ``(name, config, checkpoint)``."""
    name, sep, rest = spec.partition('=')
    config, sep2, checkpoint = rest.rpartition(':')
    if not (sep and sep2 and name and config and checkpoint):
        raise ValueError(f'model spec {spec!r} is not NAME=CONFIG:CHECKPOINT')
    for path in (config, checkpoint):
        if not osp.isfile(path):
            raise FileNotFoundError(f'{spec}: no file {path}')
    return name, config, checkpoint


def markdown_table(results: Dict[str, Dict[str, float]],
                   columns: Sequence[Tuple[str, str]] = COLUMNS) -> str:
    """Rows = models, columns = metrics in percent with one decimal."""
    lines = ['| model | ' + ' | '.join(c for c, _ in columns) + ' |',
             '|---|' + '---|' * len(columns)]
    for name, metrics in results.items():
        cells = []
        for _, key in columns:
            if key not in metrics:
                raise KeyError(f'{name}: the evaluators returned no {key} '
                               f'(got {sorted(metrics)})')
            cells.append(f'{100 * metrics[key]:.1f}')
        lines.append(f'| {name} | ' + ' | '.join(cells) + ' |')
    return '\n'.join(lines) + '\n'


def bar_chart(results: Dict[str, Dict[str, float]], path: str,
              columns: Sequence[Tuple[str, str]] = COLUMNS) -> None:
    """Grouped bars: one group per model, one bar per metric (percent)."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    names = list(results)
    width = 0.8 / len(columns)
    fig, ax = plt.subplots(figsize=(max(6, 1.4 * len(names)), 4))
    for i, (title, key) in enumerate(columns):
        xs = [j + (i - (len(columns) - 1) / 2) * width
              for j in range(len(names))]
        ax.bar(xs, [100 * results[n][key] for n in names], width,
               label=title)
    ax.set_xticks(range(len(names)))
    ax.set_xticklabels(names, rotation=20, ha='right')
    ax.set_ylabel('%')
    ax.set_ylim(0, 100)
    ax.set_title('M4-SAR benchmark')
    ax.legend(fontsize=8, loc='upper left', bbox_to_anchor=(1.01, 1))
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def evaluate(name: str, config: str, checkpoint: str, out_dir: str,
             cfg_options: dict = None) -> Dict[str, float]:
    """Test one checkpoint with both evaluators; returns the metrics."""
    from mmosar.utils.runner_utils import build_runner, load_tool_config
    cfg = load_tool_config(config, cfg_options,
                           osp.join(out_dir, 'work_dirs', name))
    cfg.load_from = checkpoint
    cfg.test_evaluator = EVALUATORS
    return dict(build_runner(cfg).test())


def main(argv: List[str] = None) -> Dict[str, Dict[str, float]]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('models', nargs='+', help='NAME=CONFIG:CHECKPOINT')
    parser.add_argument('--out-dir', required=True)
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='overrides applied to every config')
    args = parser.parse_args(argv)
    specs = [parse_model_spec(s) for s in args.models]
    names = [s[0] for s in specs]
    if len(set(names)) != len(names):
        raise ValueError(f'model names must be unique, got {names}')
    os.makedirs(args.out_dir, exist_ok=True)
    results = {
        name: evaluate(name, config, checkpoint, args.out_dir,
                       args.cfg_options)
        for name, config, checkpoint in specs
    }
    with open(osp.join(args.out_dir, 'benchmark.json'), 'w') as f:
        json.dump(results, f, indent=2)
    with open(osp.join(args.out_dir, 'benchmark.md'), 'w') as f:
        f.write(markdown_table(results))
    bar_chart(results, osp.join(args.out_dir, 'benchmark.png'))
    print(markdown_table(results))
    return results


if __name__ == '__main__':
    main()
