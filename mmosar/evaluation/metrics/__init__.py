from .base_rotated_det_metric import BaseRotatedDetMetric  # noqa: F401
from .dota_metric import DOTAMetric  # noqa: F401
from .m4sar_metric import M4SARMetric  # noqa: F401
from .reid_metric import CrossModalReIDMetric  # noqa: F401
from .retrieval_metric import RetrievalLocalizationMetric  # noqa: F401
