# Ablation "woWD": no Wasserstein modality critic (triplet loss only).
_base_ = './cmpc-embed_r50-wd_sn6-samearea.py'

model = dict(critic=None)
