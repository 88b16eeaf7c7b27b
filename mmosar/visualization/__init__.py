"""mmosar visualizers. Importing this package registers mmdet's too."""
import mmdet.visualization  # noqa: F401  (fills the parent registry)
