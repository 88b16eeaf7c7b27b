# As ifkd_retinanet_r50-mobilenetv2_fpn_100e_sar-aircraft.py with the loss
# weights hard-coded in the released code (alpha 1e-4, beta 1e-3) instead
# of the paper's (0.06, 0.5), and the code's L_feat scale (channel sum,
# no 1/C).
_base_ = './ifkd_retinanet_r50-mobilenetv2_fpn_100e_sar-aircraft.py'

model = dict(alpha=1e-4, beta=1e-3, feat_norm='mask_sum')
