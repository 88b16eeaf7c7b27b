from .refine_single_stage import RefineSingleStageDetector  # noqa: F401
from .sdconet import DegradedInputDINO, SalienceDINO, SDCoNet, SerialSRDINO  # noqa: F401
