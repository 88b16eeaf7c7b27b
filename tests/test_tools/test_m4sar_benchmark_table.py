"""tools/analysis_tools/m4sar_benchmark_table.py: table, chart, toy run."""
import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[2]
TOOL = REPO / 'tools/analysis_tools/m4sar_benchmark_table.py'


def load_tool():
    spec = importlib.util.spec_from_file_location('m4sar_table', TOOL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_markdown_table_in_percent():
    tool = load_tool()
    results = {
        'CFT': {'m4sar/AP50': 0.846, 'm4sar/AP75': 0.689,
                'm4sar/mAP': 0.599, 'dota/AP50': 0.8123, 'dota/mAP': 0.8},
        'CSSA': {'m4sar/AP50': 0.834, 'm4sar/AP75': 0.664,
                 'm4sar/mAP': 0.58, 'dota/AP50': 0.8},
    }
    assert tool.markdown_table(results).splitlines() == [
        '| model | AP50 | AP75 | mAP | AP50 (DOTA) |',
        '|---|---|---|---|---|',
        '| CFT | 84.6 | 68.9 | 59.9 | 81.2 |',
        '| CSSA | 83.4 | 66.4 | 58.0 | 80.0 |',
    ]
    with pytest.raises(KeyError, match='dota/AP50'):
        tool.markdown_table({'X': {'m4sar/AP50': 0.1, 'm4sar/AP75': 0.1,
                                   'm4sar/mAP': 0.1}})


def test_model_spec_errors(tmp_path):
    tool = load_tool()
    with pytest.raises(ValueError, match='NAME=CONFIG:CHECKPOINT'):
        tool.parse_model_spec('just-a-path.py')
    cfg = tmp_path / 'a.py'
    cfg.write_text('')
    with pytest.raises(FileNotFoundError, match='missing.pth'):
        tool.parse_model_spec(f'A={cfg}:{tmp_path / "missing.pth"}')


@pytest.mark.slow
def test_benchmark_table_on_the_toy_set(tmp_path):
    """Two untrained toy baselines on the toy M4-SAR test split (~1 min)."""
    from mmengine.config import Config

    from mmosar.registry import MODELS
    data = tmp_path / 'toy_m4sar'
    subprocess.run([sys.executable, str(REPO / 'tools/data/make_toy_m4sar.py'),
                    str(data), '--img-size', '256'], check=True, cwd=REPO)
    specs = []
    for name, stem in (('CSSA', 'cssa'), ('CFT', 'cft')):
        config = REPO / f'configs/m4sar_benchmark/{stem}_yolo11n-obb_toy_' \
            'm4sar.py'
        torch.manual_seed(0)
        model = MODELS.build(Config.fromfile(str(config)).model)
        checkpoint = tmp_path / f'{stem}.pth'
        torch.save(dict(state_dict=model.state_dict()), checkpoint)
        specs.append(f'{name}={config}:{checkpoint}')
    out = tmp_path / 'table'
    root = f'{data}/'
    subprocess.run(
        [sys.executable, str(TOOL), *specs, '--out-dir', str(out),
         '--cfg-options', f'test_dataloader.dataset.data_root={root}'],
        check=True, cwd=REPO)
    results = json.loads((out / 'benchmark.json').read_text())
    assert list(results) == ['CSSA', 'CFT']
    lines = (out / 'benchmark.md').read_text().splitlines()
    assert len(lines) == 4 and lines[2].startswith('| CSSA |')
    for name, line in zip(results, lines[2:]):
        cells = [float(c) for c in line.strip('|').split('|')[1:]]
        expected = [100 * results[name][k] for k in (
            'm4sar/AP50', 'm4sar/AP75', 'm4sar/mAP', 'dota/AP50')]
        assert cells == pytest.approx(expected, abs=0.05)
    assert (out / 'benchmark.png').stat().st_size > 1000
