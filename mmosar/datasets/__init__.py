"""mmosar datasets. Importing this package also registers mmdet's datasets."""
import mmdet.datasets  # noqa: F401  (fills the parent registries)

from .samplers import *  # noqa: F401,F403
from .transforms import *  # noqa: F401,F403
