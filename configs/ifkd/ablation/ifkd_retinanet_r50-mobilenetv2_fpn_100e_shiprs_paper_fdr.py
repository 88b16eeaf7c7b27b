# Table 4 ablation: FDR only.
_base_ = './ifkd_retinanet_r50-mobilenetv2_fpn_100e_shiprs_paper_ede-fdr.py'

model = dict(distill_loss=dict(ede_levels=()))
