# No IFKD module: plain feature imitation (M = 1) plus the head term, a
# reference point (the paper's Table 4 baseline is AT, not implemented here).
_base_ = './ifkd_retinanet_r50-mobilenetv2_fpn_100e_shiprs_paper_ede.py'

model = dict(distill_loss=dict(ede_levels=()))
