"""Shared pytest fixtures.

Real sample data lives in ``../shared/data`` (next to the repository); tests
that need it take the ``shared_data`` fixture and are skipped, with the reason,
when the folder is absent. Override the location with ``MMOSAR_SHARED_DATA``.
"""
import os
from pathlib import Path

import pytest
import torch

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(
    os.environ.get('MMOSAR_SHARED_DATA', REPO_ROOT.parent / 'shared' / 'data'))

# One thread: the models under test are tiny, and on a 2-core machine extra
# threads (also those of subprocesses and dataloaders) mostly contend.
torch.set_num_threads(1)


@pytest.fixture(scope='session')
def shared_data() -> Path:
    """Path of ``../shared/data``; skips the test when it is missing."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f'real sample data not found at {SHARED_DATA} '
                    '(set MMOSAR_SHARED_DATA to its location)')
    return SHARED_DATA


@pytest.fixture(scope='session')
def repo_root() -> Path:
    """Repository root."""
    return REPO_ROOT


@pytest.fixture(autouse=True, scope='session')
def _mmosar_modules():
    """Register every module once."""
    from mmosar.utils import register_all_modules
    register_all_modules(init_default_scope=True)


@pytest.fixture(autouse=True)
def _mmosar_scope(_mmosar_modules):
    """Run each test with ``mmosar`` as the default scope, restored after.

    A Runner built inside a test may switch the scope (e.g. to mmengine);
    the next test must not inherit that.
    """
    from mmengine.registry import DefaultScope
    with DefaultScope.overwrite_default_scope('mmosar'):
        yield
