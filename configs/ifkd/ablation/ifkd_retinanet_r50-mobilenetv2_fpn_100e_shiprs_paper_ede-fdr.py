# Table 4 ablation: EDE + FDR (no HSM: every location weighs 1).
_base_ = '../ifkd_retinanet_r50-mobilenetv2_fpn_100e_shiprs_paper.py'

model = dict(distill_loss=dict(use_hsm=False))
