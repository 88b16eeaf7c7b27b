from .mix_pipeline_switch_hook import MixPipelineSwitchHook  # noqa: F401
from .sr_routing_hook import SRRoutingHook  # noqa: F401
