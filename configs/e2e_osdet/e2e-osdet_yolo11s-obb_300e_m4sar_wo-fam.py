# Ablation of E2E-OSDet on M4-SAR: FAM (Filter Augment Module) off: the two
# stems see the raw images. Everything else is the paper recipe.
_base_ = './e2e-osdet_yolo11s-obb_300e_m4sar.py'

model = dict(backbone=dict(use_fam=False))
