from .transoss_vit import TransOSSViT  # noqa: F401
from .two_stream import TwoStreamBackbone  # noqa: F401
from .two_stream_fusion import TwoStreamFusionBackbone  # noqa: F401
from .yolo11_csp import YOLO11CSPBackbone  # noqa: F401
