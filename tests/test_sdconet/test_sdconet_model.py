"""SDCoNet end to end on CPU: tiny Swin, two real DOTA images (HBB)."""
import importlib.util
import math
from types import SimpleNamespace

import pytest
import torch
from mmengine.config import Config
from mmengine.dataset import pseudo_collate
from mmengine.logging import MMLogger

from mmosar.engine.hooks import SRRoutingHook
from mmosar.registry import DATASETS, MODELS

TOY = 'configs/sdconet/{}_toy_dota-hbb.py'


def _toy_cfg(repo_root, shared_data, name='sdconet'):
    cfg = Config.fromfile(str(repo_root / TOY.format(name)))
    for loader in (cfg.train_dataloader, cfg.val_dataloader):
        loader.dataset.data_root = str(shared_data / 'dota_v1') + '/'
    return cfg


@pytest.fixture(scope='module')
def toy(repo_root, shared_data):
    import mmosar.datasets.dota_hbb  # noqa: F401  (registers the dataset)
    torch.manual_seed(0)
    cfg = _toy_cfg(repo_root, shared_data)
    dataset = DATASETS.build(cfg.train_dataloader.dataset)
    ids = [dataset.get_data_info(i)['img_id'] for i in range(len(dataset))]
    batch = pseudo_collate(
        [dataset[ids.index('P0075')], dataset[ids.index('P1888')]])
    model = MODELS.build(cfg.model)
    model.init_weights()
    return SimpleNamespace(cfg=cfg, model=model, batch=batch)


def _loss(model, batch):
    model.train()
    data = model.data_preprocessor(batch, True)
    return model.loss(data['inputs'], data['data_samples']), data


def _grad_norm(module):
    grads = [p.grad for p in module.parameters() if p.grad is not None]
    return sum(float(g.abs().sum()) for g in grads), len(grads)


def test_forward_backward_losses_finite_and_logged(toy):
    model = toy.model
    model.set_sr_enabled(True)
    model.zero_grad(set_to_none=True)
    seen = []

    def record_input(module, args):
        seen.append(args[0].shape)

    handle = model.backbone.patch_embed.register_forward_pre_hook(record_input)
    try:
        losses, data = _loss(model, toy.batch)
    finally:
        handle.remove()
    # detection runs on the x0.5 degraded batch
    hr_h, hr_w = data['inputs'].shape[-2:]
    assert [tuple(shape[-2:]) for shape in seen] == [(hr_h // 2, hr_w // 2)]
    for key in ('loss_cls', 'loss_bbox', 'loss_iou', 'enc_loss_cls',
                'dn_loss_cls', 'loss_salience', 'loss_sr'):
        assert key in losses, key
    total, log_vars = model.parse_losses(losses)
    assert {'loss', 'loss_cls', 'loss_salience', 'loss_sr'} <= set(log_vars)
    assert all(math.isfinite(v) for v in log_vars.values())
    total.backward()
    for name in ('backbone', 'salience_scorer', 'sr_decoder', 'encoder',
                 'bbox_head'):
        norm, count = _grad_norm(getattr(model, name))
        assert count > 0 and norm > 0, name
    assert _grad_norm(model.encoder.layers[0].pre_attn)[0] > 0


def test_routing_hook_switches_sr_branch(toy):
    model = toy.model
    hook = SRRoutingHook(switch_epoch=16)
    runner = SimpleNamespace(
        model=model, epoch=15, logger=MMLogger.get_current_instance())

    hook.before_train_epoch(runner)
    assert not model.sr_enabled
    model.zero_grad(set_to_none=True)
    losses, _ = _loss(model, toy.batch)
    assert 'loss_sr' not in losses and 'loss_salience' in losses
    model.parse_losses(losses)[0].backward()
    assert all(p.grad is None for p in model.sr_decoder.parameters())
    assert _grad_norm(model.backbone)[0] > 0
    # an optimizer step leaves the SR decoder unchanged in phase 1
    before = [p.detach().clone() for p in model.sr_decoder.parameters()]
    torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.1).step()
    for old, new in zip(before, model.sr_decoder.parameters()):
        assert torch.equal(old, new)

    runner.epoch = 16
    hook.before_train_epoch(runner)
    assert model.sr_enabled
    model.zero_grad(set_to_none=True)
    losses, _ = _loss(model, toy.batch)
    assert 'loss_sr' in losses and math.isfinite(float(losses['loss_sr']))
    model.parse_losses(losses)[0].backward()
    norm, count = _grad_norm(model.sr_decoder)
    assert count == len(list(model.sr_decoder.parameters())) and norm > 0


def test_routing_hook_needs_an_sr_model():
    runner = SimpleNamespace(
        model=torch.nn.Linear(1, 1),
        epoch=0,
        logger=MMLogger.get_current_instance())
    with pytest.raises(TypeError, match='set_sr_enabled'):
        SRRoutingHook(switch_epoch=1).before_train_epoch(runner)


@pytest.mark.parametrize('scale', [1.0, 0.0])
def test_sr_gradient_into_shared_encoder(toy, scale):
    model = toy.model
    model.set_sr_enabled(True)
    model.sr_encoder_grad_scale = scale
    try:
        losses, _ = _loss(model, toy.batch)
        params = [p for p in model.backbone.parameters() if p.requires_grad]
        grads = torch.autograd.grad(
            losses['loss_sr'], params, allow_unused=True)
        encoder_grad = sum(
            float(g.abs().sum()) for g in grads if g is not None)
        if scale == 0:
            assert encoder_grad == 0
        else:
            assert encoder_grad > 0
    finally:
        model.sr_encoder_grad_scale = 1.0


def test_inference_does_not_run_sr_decoder(toy):
    model = toy.model
    model.set_sr_enabled(True)
    calls = []
    handle = model.sr_decoder.register_forward_hook(
        lambda *args: calls.append(1))
    model.eval()
    try:
        with torch.no_grad():
            data = model.data_preprocessor(toy.batch, False)
            results = model(**data, mode='predict')
            model(**data, mode='tensor')
    finally:
        handle.remove()
    assert calls == []
    for result in results:
        boxes = result.pred_instances.bboxes
        assert len(boxes) == 20
        height, width = result.ori_shape
        # rescaled back to the original image
        assert float(boxes[:, 2].max()) <= width + 1e-3
        assert float(boxes[:, 3].max()) <= height + 1e-3


def _load_get_flops(repo_root):
    spec = importlib.util.spec_from_file_location(
        'get_flops', repo_root / 'tools/analysis_tools/get_flops.py')
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_flops_exclude_sr_decoder(toy, repo_root, shared_data):
    get_flops = _load_get_flops(repo_root)
    batch = get_flops.synthetic_batch((128, 128), 3)
    sdconet = get_flops.model_complexity(toy.model, batch)
    # the same detector without any SR decoder
    cfg = _toy_cfg(repo_root, shared_data).model
    for key in ('sr_decoder', 'sr_loss', 'sr_enabled',
                'sr_encoder_grad_scale'):
        cfg.pop(key)
    cfg.type = 'SalienceDINO'
    plain = MODELS.build(cfg)
    plain.load_state_dict(toy.model.state_dict(), strict=False)
    detector_only = get_flops.model_complexity(plain, batch)
    assert sdconet['flops'] == detector_only['flops']
    serial = MODELS.build(
        _toy_cfg(repo_root, shared_data, 'serial-sr-dino').model)
    assert get_flops.model_complexity(serial, batch)['flops'] > \
        sdconet['flops']


@pytest.mark.parametrize('name', ['dino_degraded', 'serial-sr-dino'])
def test_baselines_forward_backward(toy, repo_root, shared_data, name):
    model = MODELS.build(_toy_cfg(repo_root, shared_data, name).model)
    model.init_weights()
    losses, _ = _loss(model, toy.batch)
    total, log_vars = model.parse_losses(losses)
    assert all(math.isfinite(v) for v in log_vars.values())
    assert ('loss_sr' in log_vars) == (name == 'serial-sr-dino')
    total.backward()
    assert _grad_norm(model.backbone)[0] > 0


def test_query_selection_only_among_salient_tokens(toy):
    model = toy.model
    model.eval()
    torch.manual_seed(1)
    shapes = torch.tensor([[8, 8], [4, 4], [2, 2], [1, 1]])
    memory = torch.randn(1, 85, 256)
    candidates = torch.zeros(1, 85, dtype=torch.bool)
    chosen = torch.randperm(85)[:model.num_queries]
    candidates[0, chosen] = True
    with torch.no_grad():
        decoder_inputs, _ = model.pre_decoder(
            memory, None, shapes, query_candidates=candidates)
        # every candidate must be a query (there are exactly num_queries)
        output_memory, proposals = model.gen_encoder_output_proposals(
            memory, None, shapes)
        layer = model.decoder.num_layers
        coords = (model.bbox_head.reg_branches[layer](output_memory) +
                  proposals).sigmoid()
    expected = sorted(map(tuple, coords[0, chosen].tolist()))
    got = sorted(map(tuple, decoder_inputs['reference_points'][0].tolist()))
    assert torch.allclose(torch.tensor(got), torch.tensor(expected), atol=1e-6)
    with pytest.raises(ValueError, match='level_keep_ratio'):
        model.pre_decoder(
            memory,
            None,
            shapes,
            query_candidates=candidates & (torch.arange(85) < 5))


def test_token_filtering_trains(repo_root, shared_data, toy):
    cfg = _toy_cfg(repo_root, shared_data)
    cfg.model.level_keep_ratio = (0.5, 0.8, 1.0, 1.0)
    cfg.model.encoder.layer_keep_ratio = (0.5, )
    cfg.model.sr_enabled = False
    model = MODELS.build(cfg.model)
    model.init_weights()  # DINO's level embedding is uninitialised before
    losses, _ = _loss(model, toy.batch)
    total, log_vars = model.parse_losses(losses)
    assert all(math.isfinite(v) for v in log_vars.values())
    total.backward()
    # tokens never selected received the background embedding
    assert float(model.background_embed.weight.grad.abs().sum()) > 0
    # without filtering there is no background embedding at all
    assert toy.model.background_embed is None
