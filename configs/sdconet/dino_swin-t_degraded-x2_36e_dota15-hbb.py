# Baseline: plain DINO-Swin-T on the x0.5 bicubic degraded dota15-hbb images
# (same degradation, schedule and detector settings as SDCoNet, no saliency,
# no SR branch).
_base_ = [
    '../_base_/models/sdconet_dino-degraded_swin-t.py',
    '../_base_/datasets/dota15_hbb.py',
    '../_base_/schedules/sdconet_adamw_36e.py', '../_base_/default_runtime.py'
]
model = dict(bbox_head=dict(num_classes=16))
