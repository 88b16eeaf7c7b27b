# Table 4 ablation: FDR + HSM (no EDE; the cached masks are loaded but unused).
_base_ = '../ifkd_retinanet_r50-mobilenetv2_fpn_100e_shiprs_paper.py'

model = dict(distill_loss=dict(ede_levels=()))
