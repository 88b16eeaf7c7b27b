"""RoI feature extractors for rotated RoIs."""
from .rotated_single_level_roi_extractor import RotatedSingleRoIExtractor

__all__ = ['RotatedSingleRoIExtractor']
