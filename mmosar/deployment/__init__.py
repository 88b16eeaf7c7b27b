"""Deployment: ONNX export of rotated detectors and its numpy
post-processing (see docs/tools/export_onnx.md)."""
