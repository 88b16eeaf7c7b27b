"""Scope and registration helpers."""
import datetime
import importlib
import warnings
from typing import Optional

from mmengine import DefaultScope

MMCV_OPS_HELP = (
    'mmcv is installed without its compiled ops (mmcv._ext does not '
    'import), '
    'which mmosar needs for rotated IoU/NMS and mmdet needs for its models. '
    'Build mmcv 2.1.0 with ops: `bash tools/setup_env.sh` (caches the wheel), '
    'or by hand: `pip install "setuptools<80" wheel ninja psutil` then '
    '`MMCV_WITH_OPS=1 pip install --no-build-isolation --no-deps '
    'mmcv==2.1.0` (about 25 min on 2 CPU cores; uninstall mmcv-lite first).')


def _mmcv_ops_import_error() -> Optional[ImportError]:
    """The error importing ``mmcv._ext`` gives, or None when it imports."""
    try:
        importlib.import_module('mmcv._ext')
    except ImportError as error:  # mmcv-lite, or built for another torch
        return error
    return None


def mmcv_ops_available() -> bool:
    """Whether mmcv's compiled extension ``mmcv._ext`` imports."""
    return _mmcv_ops_import_error() is None


def require_mmcv_ops() -> None:
    """Raise a clear error when mmcv's compiled ops cannot be used.

    Raises:
        RuntimeError: naming the missing extension, the import error and how
            to build it.
    """
    error = _mmcv_ops_import_error()
    if error is not None:
        raise RuntimeError(f'{MMCV_OPS_HELP} (import error: {error})')


def register_all_modules(init_default_scope: bool = True) -> None:
    """Import every mmosar (and mmdet) module so that registries are filled.

    Args:
        init_default_scope (bool): Also make ``mmosar`` the default scope.
            If another scope is current, a new ``mmosar-<time>`` instance is
            created and made current. Defaults to True.
    """
    require_mmcv_ops()
    import mmosar.apis  # noqa: F401
    import mmosar.datasets  # noqa: F401
    import mmosar.engine  # noqa: F401
    import mmosar.evaluation  # noqa: F401
    import mmosar.models  # noqa: F401
    import mmosar.structures  # noqa: F401
    import mmosar.visualization  # noqa: F401

    if not init_default_scope:
        return
    current = DefaultScope.get_current_instance()
    never_created = (current is None
                     or not DefaultScope.check_instance_created('mmosar'))
    if never_created:
        DefaultScope.get_instance('mmosar', scope_name='mmosar')
        return
    if current.scope_name != 'mmosar':
        warnings.warn('The current default scope '
                      f'"{current.scope_name}" is not "mmosar"; '
                      '`register_all_modules` makes a new default scope '
                      'instance "mmosar-<time>" current.')
        stamp = datetime.datetime.now().strftime('%Y%m%d-%H%M%S%f')
        DefaultScope.get_instance(f'mmosar-{stamp}', scope_name='mmosar')
