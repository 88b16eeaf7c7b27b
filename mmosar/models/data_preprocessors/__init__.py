"""Data preprocessors: per-modality normalisation of paired batches."""
from .paired_preprocessor import PairedDetDataPreprocessor

__all__ = ['PairedDetDataPreprocessor']
