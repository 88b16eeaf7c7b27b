"""Data preprocessors: per-modality normalisation of paired batches; ReID
normalisation with random erasing."""
from .paired_preprocessor import PairedDetDataPreprocessor
from .reid_preprocessor import PixelRandomErasing, ReIDDataPreprocessor

__all__ = [
    'PairedDetDataPreprocessor', 'ReIDDataPreprocessor', 'PixelRandomErasing'
]
