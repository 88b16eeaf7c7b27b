"""mmosar evaluation. Importing this package also registers mmdet's metrics."""
import mmdet.evaluation  # noqa: F401  (fills the parent registry)

from .functional import *  # noqa: F401,F403
from .metrics import *  # noqa: F401,F403
