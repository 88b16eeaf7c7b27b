# Released mode of the refinement network: neighbours ranked by
# exp(-d / 0.0005) (underflows to exactly 0 for most pairs, so the k-NN graph
# follows topk's tie order) and, at test time, attention logits multiplied by
# those weights (uniform attention over the neighbours), as released; the
# training graphs put the ground truth at node 0 (its similarity + 1).
_base_ = './cmpc-refine_atem_sn6-samearea.py'

model = dict(gt_first=True, refiner=dict(released=True))
