"""Utilities: registration, environment report, upstream compatibility."""
from .setup_env import (
                        mmcv_ops_available,
                        register_all_modules,
                        require_mmcv_ops,
)

__all__ = ['register_all_modules', 'require_mmcv_ops', 'mmcv_ops_available']
