"""Dataset-side utilities: sliding-window patch geometry."""
from .patch_split import (
                          assign_polygons_to_windows,
                          clip_polygons_to_window,
                          crop_window,
                          polygon_window_iof,
                          scale_windows_by_rates,
                          sliding_windows,
                          window_starts,
)

__all__ = [
    'assign_polygons_to_windows', 'clip_polygons_to_window', 'crop_window',
    'polygon_window_iof', 'scale_windows_by_rates', 'sliding_windows',
    'window_starts'
]
