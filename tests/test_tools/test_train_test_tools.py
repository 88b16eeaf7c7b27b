"""The user-facing tools end to end, as subprocesses on CPU.

tools/train.py, --resume, tools/test.py, `mim train mmosar`, dist_train.sh
with two gloo processes, and the error messages for a misspelt type and for a
missing mmcv build. The model is the toy rotated RetinaNet on the two HRSID
tiles of ../shared/data, cut to one or two short epochs.
"""
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from mmengine.runner.checkpoint import _load_checkpoint

CONFIG = 'configs/rotated_retinanet/rotated-retinanet-rbox-le90_r18_fpn_toy_hrsid.py'  # noqa: E501
# Smaller and shorter than the config itself: the tools are under test here.
QUICK = [
    'train_cfg.max_epochs=1', 'train_cfg.val_interval=1',
    'default_hooks.logger.interval=1', 'image_scale=(256,256)'
]


def _run(args, repo_root, timeout=600, env=None, check=True):
    result = subprocess.run(
        args,
        cwd=repo_root,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={
            **os.environ, 'OMP_NUM_THREADS': '1',
            **(env or {})
        })
    if check and result.returncode != 0:
        raise AssertionError(f'{" ".join(map(str, args))} failed '
                             f'({result.returncode}):\n{result.stdout[-3000:]}'
                             f'\n{result.stderr[-5000:]}')
    return result


def _train(repo_root, work_dir, *extra, epochs=1):
    options = [o for o in QUICK if not o.startswith('train_cfg.max_epochs')]
    return _run([
        sys.executable, 'tools/train.py', CONFIG, '--work-dir',
        str(work_dir), *extra, '--cfg-options',
        f'train_cfg.max_epochs={epochs}', *options
    ], repo_root)


@pytest.fixture(scope='module')
def trained(shared_data, repo_root, tmp_path_factory):
    work_dir = tmp_path_factory.mktemp('train')
    _train(repo_root, work_dir)
    return work_dir


def test_train_writes_checkpoint(trained):
    assert (trained / 'epoch_1.pth').is_file()
    assert (trained / 'last_checkpoint').is_file()


def test_resume_continues_from_last_checkpoint(trained, repo_root, tmp_path):
    work_dir = tmp_path / 'resume'
    shutil.copytree(trained, work_dir)
    (work_dir / 'last_checkpoint').write_text(str(work_dir / 'epoch_1.pth'))
    result = _train(repo_root, work_dir, '--resume', epochs=2)
    log = result.stdout + result.stderr
    assert 'resumed epoch: 1' in log
    trained_epochs = set(re.findall(r'Epoch\(train\)\s*\[(\d+)\]', log))
    assert trained_epochs == {'2'}
    # mmengine's loader under torch's default weights_only=True
    checkpoint = _load_checkpoint(str(work_dir / 'epoch_2.pth'))
    assert checkpoint['meta']['epoch'] == 2


def test_test_tool_loads_checkpoint(trained, repo_root):
    result = _run([
        sys.executable, 'tools/test.py', CONFIG,
        str(trained / 'epoch_1.pth'), '--work-dir',
        str(trained / 'test'), '--cfg-options', *QUICK
    ], repo_root)
    assert 'dota/AP50' in result.stdout + result.stderr


def test_test_tool_with_tta(trained, repo_root):
    # RotatedDetTTAModel over the unflipped and three flipped views
    result = _run([
        sys.executable, 'tools/test.py', CONFIG,
        str(trained / 'epoch_1.pth'), '--tta', '--work-dir',
        str(trained / 'test_tta'), '--cfg-options', *QUICK
    ], repo_root)
    log = result.stdout + result.stderr
    assert "type='RotatedDetTTAModel'" in log  # the config the runner used
    assert 'dota/AP50' in log


def test_unknown_type_suggests_close_names(shared_data, repo_root, tmp_path):
    result = _run([
        sys.executable, 'tools/train.py', CONFIG, '--work-dir',
        str(tmp_path), '--cfg-options', 'model.bbox_head.type=RotatedRetinaHed'
    ],
                  repo_root,
                  check=False)
    assert result.returncode != 0
    assert 'RotatedRetinaHed' in result.stderr
    assert 'mmosar::model' in result.stderr
    assert 'Did you mean: RotatedRetinaHead' in result.stderr


def test_missing_mmcv_ops_gives_build_instructions(repo_root, tmp_path):
    # Hide mmcv._ext the way an mmcv-lite install would.
    (tmp_path / 'sitecustomize.py').write_text(
        'import sys\n'
        'class _HideExt:\n'
        '    def find_spec(self, name, path=None, target=None):\n'
        '        if name == "mmcv._ext":\n'
        '            raise ModuleNotFoundError(name)\n'
        'sys.meta_path.insert(0, _HideExt())\n')
    env = {'PYTHONPATH': f'{tmp_path}{os.pathsep}{repo_root}'}
    result = _run([sys.executable, 'tools/train.py', CONFIG],
                  repo_root,
                  env=env,
                  check=False)
    assert result.returncode != 0
    assert 'mmcv is installed without its compiled ops' in result.stderr
    assert 'Traceback' not in result.stderr  # a message, not a stack dump
    assert 'MMCV_WITH_OPS=1' in result.stderr


@pytest.mark.skipif(shutil.which('mim') is None and not Path(
    sys.executable).with_name('mim').exists(), reason='openmim not installed')
def test_mim_train(shared_data, repo_root, tmp_path):
    mim = shutil.which('mim') or str(Path(sys.executable).with_name('mim'))
    _run([
        mim, 'train', 'mmosar', CONFIG, '--work-dir',
        str(tmp_path), '--cfg-options', *QUICK
    ], repo_root)
    assert (tmp_path / 'epoch_1.pth').is_file()


def test_dist_train_two_cpu_processes(shared_data, repo_root, tmp_path):
    result = _run([
        'bash', 'tools/dist_train.sh', CONFIG, '2', '--work-dir',
        str(tmp_path), '--cfg-options', *QUICK
    ],
                  repo_root,
                  env={
                      'PYTHON': sys.executable,
                      'PORT': '29511'
                  })
    log = result.stdout + result.stderr
    assert (tmp_path / 'epoch_1.pth').is_file()
    assert 'Distributed training: True' in log
    assert 'GPU number: 2' in log  # mmengine's name for the world size
