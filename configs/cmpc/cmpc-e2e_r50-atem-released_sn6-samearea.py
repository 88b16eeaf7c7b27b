# Released mode end to end, from a released CMPC checkpoint
# (`results/<exp>/30_param.t`, {'model': ...}), converted while loading:
#   python tools/cmpc/embed_database.py \
#       configs/cmpc/cmpc-e2e_r50-atem-released_sn6-samearea.py RELEASED.t \
#       ... (or convert first: tools/model_converters/cmpc_to_mmosar.py)
#   python tools/test.py configs/cmpc/cmpc-e2e_r50-atem-released_sn6-samearea.py \
#       none --cfg-options model.released_checkpoint=RELEASED.t
# The released checkpoint has no Wasserstein critic (it lives in the loss),
# so the embedder is built without one. The released metric thresholds are
# reported too (`loc_acc_released@...`).
_base_ = './cmpc-e2e_r50-wd-atem_sn6-samearea.py'

model = dict(
    embedder=dict(critic=None),
    released_checkpoint=None,
    refiner=dict(released=True))
