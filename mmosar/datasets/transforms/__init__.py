from .rotated import (ConvertBoxType, RandomChoiceRotate, RandomRotate,  # noqa: F401
                      Rotate)
from .paired import (LoadPairedImages, MultiBandPad, PairedMosaic,  # noqa: F401
                     PairedRandomAffine, PairedRandomHSV, PerModality,
                     SARRandomGain, modality_slices)
from .degrade import DegradeResolution  # noqa: F401
