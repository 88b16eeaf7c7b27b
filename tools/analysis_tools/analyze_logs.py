"""Training curves and training time from mmengine's scalar logs.

    python tools/analysis_tools/analyze_logs.py plot_curve LOG [LOG ...] \
        [--keys loss lr m4sar/mAP50] [--legend A B] [--x-axis iter|epoch] \
        [--title T] [--style whitegrid] [--out curves.png|.pdf]
    python tools/analysis_tools/analyze_logs.py cal_train_time LOG [LOG ...] \
        [--include-outliers]

``LOG`` is a run's ``vis_data/scalars.json`` (or the run's work dir / the
timestamped folder holding it), one JSON object per line, as mmengine's
``LocalVisBackend`` writes it. Training records carry ``lr`` and the losses,
``iter`` (within the epoch for epoch-based runs), ``epoch`` and ``step`` (the
global iteration); validation records carry the metrics and ``step`` (the
epoch for epoch-based runs, else the iteration).

Several runs go on one figure, one line per (run, key). The x axis is the
global iteration by default; validation results of epoch-based runs are placed
at the last iteration of their epoch (``epoch * iters_per_epoch``, where
``iters_per_epoch`` is read off the training records:
``step = (epoch - 1) * iters_per_epoch + iter``). ``--x-axis epoch`` puts
training records at ``step / iters_per_epoch`` instead.
"""
import argparse
import json
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

#: keys that describe a record rather than measure something
META_KEYS = ('step', 'epoch', 'iter')


@dataclass
class ScalarLog:
    """The records of one run, split into training and validation."""

    path: Path
    train: List[dict] = field(default_factory=list)
    val: List[dict] = field(default_factory=list)

    @property
    def epoch_based(self) -> bool:
        return any('epoch' in r for r in self.train)

    @property
    def iters_per_epoch(self) -> Optional[float]:
        """Training iterations per epoch, or None for iteration-based runs.

        From any record of a later epoch: ``(step - iter) / (epoch - 1)``;
        for a single-epoch run, the last logged iteration.
        """
        if not self.epoch_based:
            return None
        later = [r for r in self.train if r.get('epoch', 1) > 1]
        if later:
            r = later[0]
            return (r['step'] - r['iter']) / (r['epoch'] - 1)
        return float(max(r['iter'] for r in self.train))

    def series(self, key: str, x_axis: str = 'iter') -> Tuple[np.ndarray,
                                                             np.ndarray]:
        """``(x, y)`` of ``key`` over the run, in the order logged.

        Raises:
            KeyError: When no record has ``key``, naming the keys there are.
        """
        train = [r for r in self.train if key in r]
        records, is_train = (train, True) if train else (
            [r for r in self.val if key in r], False)
        if not records:
            raise KeyError(f'{self.path}: no scalar {key!r}; logged keys: '
                           f'{sorted(self.keys())}')
        steps = np.array([r['step'] for r in records], dtype=np.float64)
        n = self.iters_per_epoch
        if n is not None:
            if is_train and x_axis == 'epoch':
                steps = steps / n
            elif not is_train and x_axis == 'iter':
                steps = steps * n  # validation step = epoch
        values = np.array([r[key] for r in records], dtype=np.float64)
        return steps, values

    def keys(self) -> List[str]:
        names = {k for r in self.train + self.val for k in r}
        return sorted(names - set(META_KEYS))


def find_scalars(path: str) -> Path:
    """``path`` itself when a file, else the newest ``scalars.json`` under
    it (a work dir holds one timestamped folder per run)."""
    p = Path(path)
    if p.is_file():
        return p
    found = sorted(p.glob('**/vis_data/scalars.json'),
                   key=lambda f: f.stat().st_mtime)
    if not found:
        raise FileNotFoundError(f'{path}: no vis_data/scalars.json here')
    return found[-1]


def load_scalars(path: str) -> ScalarLog:
    """Read a ``scalars.json``; a line that is not a JSON object is an
    error naming the file and line."""
    file = find_scalars(path)
    log = ScalarLog(file)
    with open(file) as f:
        for line_no, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as error:
                raise ValueError(f'{file}:{line_no}: not JSON ({error})')
            if not isinstance(record, dict) or 'step' not in record:
                raise ValueError(f'{file}:{line_no}: expected a JSON object '
                                 'with a "step", as mmengine writes')
            is_train = 'lr' in record or any(
                k.startswith('loss') for k in record)
            (log.train if is_train else log.val).append(record)
    return log


def plot_curve(logs: Sequence[ScalarLog],
               keys: Sequence[str],
               legend: Optional[Sequence[str]] = None,
               x_axis: str = 'iter',
               title: Optional[str] = None,
               style: str = 'whitegrid',
               out: Optional[str] = None):
    """Draw every (run, key) series on one figure; returns the figure."""
    import matplotlib
    if out is not None:
        matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    try:
        import seaborn as sns
        sns.set_style(style)
    except ImportError:  # seaborn is optional; keep matplotlib's style
        pass
    n_lines = len(logs) * len(keys)
    if legend is None:
        legend = [f'{Path(log.path).parent.parent.name} {key}'
                  if len(logs) > 1 else key for log in logs for key in keys]
    if len(legend) != n_lines:
        raise ValueError(f'--legend needs {n_lines} names (runs x keys), '
                         f'got {len(legend)}')
    fig, ax = plt.subplots(figsize=(8, 4.5))
    names = iter(legend)
    for log in logs:
        for key in keys:
            x, y = log.series(key, x_axis)
            ax.plot(x, y, label=next(names), marker='o' if len(x) < 30
                    else None, markersize=3)
    ax.set_xlabel('epoch' if x_axis == 'epoch' else 'iteration')
    ax.set_ylabel(keys[0] if len(keys) == 1 else 'value')
    if title:
        ax.set_title(title)
    ax.legend()
    fig.tight_layout()
    if out is not None:
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(out)
        print(f'saved {out}')
    return fig


def train_time(log: ScalarLog, include_outliers: bool = False) -> Dict:
    """Per-iteration time statistics of one run (the ``time`` key).

    The first logged record of the run is left out unless
    ``include_outliers`` (it includes start-up work), as mmdet's tool does.

    Returns:
        dict: ``average`` (s / iter over all kept records), and for
        epoch-based runs ``slowest`` / ``fastest`` ``(epoch, s / iter)`` and
        ``std`` of the per-epoch averages.
    """
    records = [r for r in log.train if 'time' in r]
    if not include_outliers:
        records = records[1:]
    if not records:
        raise ValueError(f'{log.path}: no training "time" records')
    times = np.array([r['time'] for r in records])
    result = dict(average=float(times.mean()))
    if log.epoch_based:
        per_epoch = defaultdict(list)
        for r in records:
            per_epoch[r['epoch']].append(r['time'])
        means = {e: float(np.mean(v)) for e, v in sorted(per_epoch.items())}
        slow = max(means, key=means.get)
        fast = min(means, key=means.get)
        result.update(slowest=(slow, means[slow]), fastest=(fast, means[fast]),
                      std=float(np.std(list(means.values()))))
    return result


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest='task', required=True)
    curve = sub.add_parser('plot_curve', help='plot scalars of runs')
    curve.add_argument('json_logs', nargs='+',
                       help='scalars.json files or work dirs')
    curve.add_argument('--keys', nargs='+', default=['loss'],
                       help='scalars to plot (any logged key)')
    curve.add_argument('--legend', nargs='+', default=None,
                       help='one name per (run, key) line')
    curve.add_argument('--x-axis', choices=('iter', 'epoch'), default='iter')
    curve.add_argument('--title', default=None)
    curve.add_argument('--style', default='whitegrid',
                       help='seaborn style, when seaborn is installed')
    curve.add_argument('--out', default=None,
                       help='PNG / PDF to write (else a window)')
    timing = sub.add_parser('cal_train_time', help='training time per iter')
    timing.add_argument('json_logs', nargs='+')
    timing.add_argument('--include-outliers', action='store_true',
                        help='keep the first record of each run')
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    logs = [load_scalars(p) for p in args.json_logs]
    if args.task == 'plot_curve':
        fig = plot_curve(logs, args.keys, args.legend, args.x_axis,
                         args.title, args.style, args.out)
        if args.out is None:
            import matplotlib.pyplot as plt
            plt.show()
        del fig
        return
    for log in logs:
        stats = train_time(log, args.include_outliers)
        print(f'-----Analyze train time of {log.path}-----')
        if 'slowest' in stats:
            print(f'slowest epoch {stats["slowest"][0]}, average time is '
                  f'{stats["slowest"][1]:.4f} s/iter')
            print(f'fastest epoch {stats["fastest"][0]}, average time is '
                  f'{stats["fastest"][1]:.4f} s/iter')
            print(f'time std over epochs is {stats["std"]:.4f}')
        print(f'average iter time: {stats["average"]:.4f} s/iter')


if __name__ == '__main__':
    main()
