"""Necks."""
from .yolo11_pan import YOLO11PAFPN

__all__ = ['YOLO11PAFPN']
