"""Data samplers."""
from .identity_sampler import IdentitySampler

__all__ = ['IdentitySampler']
