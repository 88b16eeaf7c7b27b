from .corruption import ModalityCorruption  # noqa: F401
from .degrade import DegradeResolution  # noqa: F401
from .paired import (  # noqa: F401
                      LoadPairedImages,
                      MultiBandPad,
                      PairedMosaic,
                      PairedRandomAffine,
                      PairedRandomHSV,
                      PerModality,
                      SARRandomGain,
                      modality_slices,
)
from .rotated import (  # noqa: F401
                      ConvertBoxType,
                      RandomCenteredAffine,
                      RandomChoiceRotate,
                      RandomRotate,
                      RegularizeRotatedBoxes,
                      Rotate,
                      box_candidates,
                      resample_polygons,
)
