from .rotated_tta import RotatedDetTTAModel

__all__ = ['RotatedDetTTAModel']
