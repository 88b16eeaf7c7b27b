from .sdconet import (DegradedInputDINO, SalienceDINO, SDCoNet,  # noqa: F401
                      SerialSRDINO)
