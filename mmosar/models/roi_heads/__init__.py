"""RoI heads and their parts for rotated two-stage detectors."""
from .roi_extractors import *  # noqa: F401,F403
