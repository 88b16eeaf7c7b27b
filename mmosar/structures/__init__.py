"""Data structures: rotated box types and their ops."""
from .bbox import *  # noqa: F401,F403
