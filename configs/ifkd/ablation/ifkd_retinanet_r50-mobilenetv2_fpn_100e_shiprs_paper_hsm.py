# Table 4 ablation: HSM only (plain imitation of the teacher feature,
# weighted by HSM).
_base_ = './ifkd_retinanet_r50-mobilenetv2_fpn_100e_shiprs_paper_ede-hsm.py'

model = dict(distill_loss=dict(ede_levels=()))
