# As ifkd_retinanet_r50-mobilenetv2_fpn_100e_sar-aircraft.py with the loss
# scale of the released code: alpha 1e-4, beta 1e-3 and L_feat summed over
# the channels (no 1/C).
_base_ = './ifkd_retinanet_r50-mobilenetv2_fpn_100e_sar-aircraft.py'

model = dict(distill_loss=dict(alpha=1e-4, beta=1e-3, feat_norm='mask_sum'))
