# Table 4 ablation: EDE + HSM (no FDR).
_base_ = '../ifkd_retinanet_r50-mobilenetv2_fpn_100e_shiprs_paper.py'

model = dict(distill_loss=dict(fdr_levels=()))
