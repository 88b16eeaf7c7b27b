"""Converters of released checkpoints to mmosar names."""
from .m4sar import (
    Conversion,
    ConversionError,
    LayerSpec,
    convert_e2e_osdet,
    convert_with_table,
    obb_head_specs,
    yolo11_neck_specs,
    yolo11_stream_specs,
)
from .ultralytics_ckpt import (
    UnsafeCheckpointError,
    load_inert,
    load_ultralytics_state_dict,
    module_state_dict,
)

__all__ = [
    'Conversion', 'ConversionError', 'LayerSpec', 'UnsafeCheckpointError',
    'convert_e2e_osdet', 'convert_with_table', 'load_inert',
    'load_ultralytics_state_dict', 'module_state_dict', 'obb_head_specs',
    'yolo11_neck_specs', 'yolo11_stream_specs'
]
