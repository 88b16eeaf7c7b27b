# TransOSS stage 1 with the released pretraining batch before the December
# 2025 fix (Hoss-ReID f493004 and earlier): 256 pairs (512 images) per GPU
# and every GPU shuffling the whole pair set each epoch (no distributed
# sampler), i.e. 4 x 256 pairs per step and each pair seen 4 times per
# epoch. Probably what produced the released `vit_b512_pre.pth` (see
# configs/transoss/README.md).
_base_ = ['./transoss_vit-b16_4xb128-60e_optisar-pair-pretrain.py']

train_dataloader = dict(
    batch_size=512,
    sampler=dict(num_ids=256, shard_across_ranks=False))
