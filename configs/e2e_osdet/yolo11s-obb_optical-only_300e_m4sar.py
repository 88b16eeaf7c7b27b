# Single-stream baseline: YOLO11s-OBB on the optical image of each M4-SAR pair
# only (the SAR bands of the paired input are dropped by the backbone's
# `modality` key), trained with the E2E-OSDet recipe.
_base_ = './e2e-osdet_yolo11s-obb_300e_m4sar.py'

model = dict(
    backbone=dict(
        _delete_=True,
        type='YOLO11CSPBackbone',
        arch='s',
        modality='optical',
        modality_channels={{_base_.modality_channels}}))
