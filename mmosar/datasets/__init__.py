"""mmosar datasets. Importing this package also registers mmdet's datasets."""
import mmdet.datasets  # noqa: F401  (fills the parent registries)

from .cmpc import (  # noqa: F401,E501
                                  CMPCEmbeddingCacheDataset,
                                  PairedRetrievalDataset,
                                  SN6CMPCDataset,
)
from .dior import DIORRDataset  # noqa: F401
from .dota import DOTADataset, SARShipDataset  # noqa: F401
from .dota_hbb import DOTAHBBDataset  # noqa: F401
from .hoss import HOSSDataset  # noqa: F401
from .hrsc import HRSCDataset  # noqa: F401
from .hrssd import HRSSDDataset  # noqa: F401
from .m4sar import M4SARDataset  # noqa: F401
from .nwpu_vhr10 import NWPUVHR10Dataset  # noqa: F401
from .optisar_pair import OptiSarPairDataset  # noqa: F401
from .samplers import *  # noqa: F401,F403
from .sar_aircraft import SARAircraftDataset, VOCStyleHBBDataset  # noqa: F401,E501
from .shiprs import ShipRSImageNetDataset  # noqa: F401
from .transforms import *  # noqa: F401,F403
from .transforms.reid_chip import (  # noqa: F401
                                  LoadShipChip,
                                  RandomPadCrop,
                                  ShipSizeVector,
)
