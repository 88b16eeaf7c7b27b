from .sdconet import DegradedInputDINO, SalienceDINO, SDCoNet, SerialSRDINO  # noqa: F401
