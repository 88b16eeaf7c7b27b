"""Task modules of rotated detection: box coders, IoU calculators, priors."""
from .assigners import *  # noqa: F401,F403
from .coders import *  # noqa: F401,F403
from .iou_calculators import *  # noqa: F401,F403
from .prior_generators import *  # noqa: F401,F403
