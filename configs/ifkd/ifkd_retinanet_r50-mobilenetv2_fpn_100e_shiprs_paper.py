# Paper mode (eq. 12 on every FPN level): EDE -> FDR -> HSM, EDE as eq. 1
# (T + sigmoid(MobileSAM(x)) resized, no generator), FDR with a fixed filter,
# HSM on the reconstructed pair, alpha 0.06, beta 0.5, L_feat / C. The
# setting of the paper's Table 4 (ShipRSImageNet, RetinaNet R50 ->
# MobileNetV2); its ablations are in ablation/.
_base_ = [
    './ifkd_retinanet_r50-mobilenetv2_fpn_100e_shiprs.py',
    '../_base_/models/ifkd_modes.py'
]

model = dict(distill_loss={{_base_.ifkd_paper}})
