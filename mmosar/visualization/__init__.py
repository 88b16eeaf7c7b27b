"""mmosar visualizers. Importing this package registers mmdet's too."""
import mmdet.visualization  # noqa: F401  (fills the parent registry)

from .paired_visualizer import PairedDetLocalVisualizer  # noqa: F401,E402
from .rotated_visualizer import RotLocalVisualizer  # noqa: F401,E402
