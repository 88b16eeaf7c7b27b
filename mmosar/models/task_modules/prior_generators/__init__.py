"""Anchor generators that produce rotated anchors."""
from .rotated_anchor_generator import (
    FakeRotatedAnchorGenerator,
    PseudoRotatedAnchorGenerator,
    RotatedAnchorGenerator,
)

__all__ = [
    'FakeRotatedAnchorGenerator', 'RotatedAnchorGenerator',
    'PseudoRotatedAnchorGenerator'
]
