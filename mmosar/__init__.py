"""mmosar: an OpenMMLab extension package for optical-SAR remote sensing."""
import mmcv
import mmdet
import mmengine
from mmengine.utils import digit_version

from .utils.compat import apply_upstream_fixes
from .version import __version__, version_info

mmcv_minimum_version = '2.0.0rc4'
mmcv_maximum_version = '2.2.0'
mmengine_minimum_version = '0.10.0'
mmdet_minimum_version = '3.3.0'


def _check_version(name: str, installed: str, minimum: str,
                   maximum: str = None) -> None:
    version = digit_version(installed)
    ok = version >= digit_version(minimum)
    if maximum is not None:
        ok = ok and version < digit_version(maximum)
    if not ok:
        wanted = f'>={minimum}' + (f', <{maximum}' if maximum else '')
        raise RuntimeError(
            f'{name}=={installed} is installed but mmosar needs {name}'
            f'{wanted}. Run `bash tools/setup_env.sh` to install the pinned '
            'stack (see requirements/).')


_check_version('mmcv', mmcv.__version__, mmcv_minimum_version,
               mmcv_maximum_version)
_check_version('mmengine', mmengine.__version__, mmengine_minimum_version)
_check_version('mmdet', mmdet.__version__, mmdet_minimum_version)

apply_upstream_fixes()

__all__ = ['__version__', 'version_info']
