"""High-level inference APIs."""
from .huge_image import inference_detector_by_patches, patch_windows  # noqa: F401,E501
from .paired_inference import inference_paired_detector  # noqa: F401
