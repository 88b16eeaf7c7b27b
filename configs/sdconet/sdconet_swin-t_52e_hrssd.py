# SDCoNet (saliency-driven query selection + train-time-only SR decoder on
# the shared Swin-T, gradient routing: SR branch from epoch 16) on x0.5
# bicubic degraded hrssd images.
_base_ = [
    '../_base_/models/sdconet_swin-t.py', '../_base_/datasets/hrssd.py',
    '../_base_/schedules/sdconet_adamw_52e_routing.py',
    '../_base_/default_runtime.py'
]
model = dict(bbox_head=dict(num_classes=13), sr_enabled=False)
