# SDCoNet with the paper-intent arithmetic (see configs/sdconet/README.md):
# each encoder layer's deformable attention reads the previous layer's
# memory with a single residual, LN(q + attn); the pre-attention takes the
# 100 most salient tokens; the SR bottleneck is transposed to tokens and no
# RGB mean is added. Training as the released routing model (alpha 1.0
# frozen, SR branch from epoch 16, 52 epochs).
_base_ = [
    '../_base_/models/sdconet_swin-t.py', '../_base_/datasets/dota15_hbb.py',
    '../_base_/schedules/sdconet_adamw_52e_routing.py',
    '../_base_/default_runtime.py'
]
model = dict(
    bbox_head=dict(num_classes=16),
    salience_scorer=dict(fixed_alpha=1.0),
    sr_enabled=False)
