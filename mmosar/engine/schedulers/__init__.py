"""Parameter schedulers."""
from .timm_cosine_lr import TimmCosineLR

__all__ = ['TimmCosineLR']
