# Ablation of the E2E-OSDet recipe: colour jitter on. The release's 6-band
# HSV branch builds a jittered image but never writes it back, so the
# released recipe trains without colour jitter; this config applies
# PairedRandomHSV (HSV gains 0.015 / 0.7 / 0.4 on the optical bands, the
# same value gain on SAR), in the mosaic and the last no-mosaic epochs.
_base_ = './e2e-osdet_yolo11s-obb_300e_m4sar.py'

train_dataloader = dict(dataset=dict(skip_type_keys=None))
