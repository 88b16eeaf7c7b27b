"""tools/analysis_tools/analyze_logs.py against the scalars file it reads."""
import importlib.util
import json
import subprocess
import sys

import numpy as np
import pytest

# Epoch-based run, 4 iterations per epoch, logged every 2 iterations, validated
# after each epoch (mmengine: train step = global iteration, val step = epoch).
RECORDS = [
    dict(lr=0.01, loss=2.0, time=0.50, data_time=0.1, epoch=1, iter=2, step=2),
    dict(lr=0.01, loss=1.5, time=0.30, data_time=0.1, epoch=1, iter=4, step=4),
    {'m4sar/mAP50': 0.25, 'data_time': 0.01, 'time': 0.2, 'step': 1},
    dict(lr=0.005, loss=1.0, time=0.20, data_time=0.1, epoch=2, iter=2,
         step=6),
    dict(lr=0.005, loss=0.8, time=0.40, data_time=0.1, epoch=2, iter=4,
         step=8),
    {'m4sar/mAP50': 0.5, 'data_time': 0.01, 'time': 0.2, 'step': 2},
]


@pytest.fixture
def tool(repo_root):
    path = repo_root / 'tools' / 'analysis_tools' / 'analyze_logs.py'
    spec = importlib.util.spec_from_file_location('analyze_logs', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def run_dir(tmp_path):
    vis = tmp_path / 'run' / '20261206_010000' / 'vis_data'
    vis.mkdir(parents=True)
    (vis / 'scalars.json').write_text(
        ''.join(json.dumps(r) + '\n' for r in RECORDS))
    return tmp_path / 'run'


def test_curves_are_the_logged_values(tool, run_dir, tmp_path):
    log = tool.load_scalars(str(run_dir))  # finds vis_data/scalars.json
    assert len(log.train) == 4 and len(log.val) == 2
    assert log.iters_per_epoch == 4
    out = tmp_path / 'curves.png'
    fig = tool.plot_curve([log], ['loss', 'm4sar/mAP50'], out=str(out))
    loss, metric = fig.axes[0].get_lines()
    assert loss.get_xdata().tolist() == [2, 4, 6, 8]
    assert loss.get_ydata().tolist() == [2.0, 1.5, 1.0, 0.8]
    # validation after epoch e sits at iteration 4 e
    assert metric.get_xdata().tolist() == [4, 8]
    assert metric.get_ydata().tolist() == [0.25, 0.5]
    assert out.stat().st_size > 0


def test_epoch_axis_and_several_runs(tool, run_dir):
    log = tool.load_scalars(str(run_dir))
    fig = tool.plot_curve([log, log], ['lr'], legend=['a', 'b'],
                          x_axis='epoch')
    lines = fig.axes[0].get_lines()
    assert [line.get_label() for line in lines] == ['a', 'b']
    np.testing.assert_allclose(lines[0].get_xdata(), [0.5, 1.0, 1.5, 2.0])
    with pytest.raises(ValueError, match='needs 2 names'):
        tool.plot_curve([log, log], ['lr'], legend=['a'])


def test_unknown_key_and_bad_line_are_clear_errors(tool, run_dir, tmp_path):
    log = tool.load_scalars(str(run_dir))
    with pytest.raises(KeyError, match="no scalar 'acc'.*'loss'"):
        log.series('acc')
    bad = tmp_path / 'bad.json'
    bad.write_text(json.dumps(RECORDS[0]) + '\n{oops\n')
    with pytest.raises(ValueError, match=r'bad.json:2: not JSON'):
        tool.load_scalars(str(bad))


def test_train_time_statistics(tool, run_dir):
    log = tool.load_scalars(str(run_dir))
    # first record (0.50 s) left out: epoch 1 -> 0.30, epoch 2 -> 0.30
    stats = tool.train_time(log)
    assert stats['average'] == pytest.approx((0.30 + 0.20 + 0.40) / 3)
    assert stats['std'] == pytest.approx(0.0)
    stats = tool.train_time(log, include_outliers=True)
    assert stats['average'] == pytest.approx(1.4 / 4)
    assert stats['slowest'] == (1, pytest.approx(0.40))
    assert stats['fastest'] == (2, pytest.approx(0.30))


def test_command_line(repo_root, run_dir, tmp_path):
    out = tmp_path / 'c.pdf'
    tool = 'tools/analysis_tools/analyze_logs.py'
    subprocess.run([sys.executable, tool, 'plot_curve', str(run_dir),
                    '--keys', 'loss', '--out', str(out)], cwd=repo_root,
                   check=True, capture_output=True, timeout=300)
    assert out.read_bytes().startswith(b'%PDF')
    result = subprocess.run(
        [sys.executable, tool, 'cal_train_time', str(run_dir)],
        cwd=repo_root, check=True, capture_output=True, text=True,
        timeout=300)
    assert 'average iter time: 0.3000 s/iter' in result.stdout
