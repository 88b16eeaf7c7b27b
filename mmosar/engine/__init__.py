"""mmosar runner parts (hooks, loops, optimizers)."""
import mmdet.engine  # noqa: F401  (fills the parent registries)

from .hooks import *  # noqa: F401,F403
from .schedulers import *  # noqa: F401,F403
