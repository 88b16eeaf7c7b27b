"""SDCoNet released mode against the ``sdconet`` fixture.

The fixture is the released ``SA_DINO_SR`` (qiruo-ya/SDCoNet@3db3392 on mmdet
3.3) with recipe weights in float64 (see its README). mmosar's model is
``configs/_base_/models/sdconet_swin-t_released.py`` (16 classes, backbone
``init_cfg`` off), loaded strictly through
:func:`mmosar.models.detectors.sdconet_converter.load_released_sdconet`. Only
the 26 constant buffers the fixture leaves out of its state dict (filter
ratios, relative-position indices) may be missing; they are compared with the
fixture's ``const/*`` values instead.

Compared: the data preprocessor, the degraded backbone input, the neck
outputs, the encoder inputs, the saliency logits (per level and flat), the
token order, each encoder layer's pre-attention top-100 (and the score gap
after it), the encoder memory, DINO's query selection, the initial
references, all decoder layers' class logits and boxes, ``predict``, the SR
bottleneck and output, the SR loss, and the saliency targets, per-token focal
terms and loss.
"""
from pathlib import Path
from typing import Dict, List

import numpy as np
import torch

from . import EquivalenceReport, Fixture

CONFIG = 'configs/_base_/models/sdconet_swin-t_released.py'
IMAGE_SIZE = (256, 256)
#: mmosar names of the buffers the fixture keeps at their constructed values.
CONSTANT_BUFFERS = ('backbone.stages.*.attn.w_msa.relative_position_index',
                    'sr_decoder.stages.*.attn.w_msa.relative_position_index')


def _repo_root() -> Path:
    return Path(__file__).resolve().parents[3]


def build_released_model(num_classes: int = 16) -> torch.nn.Module:
    """The released-mode SDCoNet of the fixture (random init, float32)."""
    from mmengine.config import Config

    from mmosar.registry import MODELS
    from mmosar.utils import register_all_modules
    register_all_modules(init_default_scope=True)
    cfg = Config.fromfile(str(_repo_root() / CONFIG))
    cfg.model.backbone.init_cfg = None
    cfg.model.bbox_head.num_classes = num_classes
    return MODELS.build(cfg.model)


def _sample(batch_input_shape=IMAGE_SIZE):
    from mmdet.structures import DetDataSample
    sample = DetDataSample()
    sample.set_metainfo(
        dict(
            img_shape=IMAGE_SIZE,
            ori_shape=IMAGE_SIZE,
            pad_shape=IMAGE_SIZE,
            batch_input_shape=batch_input_shape,
            scale_factor=(1.0, 1.0)))
    return sample


def _compare_constants(model, fixture: Fixture, report: EquivalenceReport,
                       missing: List[str]) -> None:
    released = set(fixture.manifest['constant_buffers'])
    expected_missing = {
        k.replace('sr_module.layers.', 'sr_decoder.stages.').replace(
            '.attn.relative_position_index',
            '.attn.w_msa.relative_position_index')
        for k in released
        if k not in ('level_filter_ratio', 'layer_filter_ratio')
    }
    report.compare(
        'load/only_constant_buffers_missing',
        np.array(set(missing) == expected_missing), np.array(True),
        note=f'{len(missing)} missing keys, all constant buffers')
    report.compare('const/level_filter_ratio',
                   np.array(model.level_keep_ratio, dtype=np.float32),
                   fixture['const/level_filter_ratio'])
    report.compare('const/layer_filter_ratio',
                   np.array(model.encoder.layer_keep_ratio, dtype=np.float32),
                   fixture['const/layer_filter_ratio'])
    state = model.state_dict()
    for key, prefix in (('const/swin_relative_position_index', 'backbone.'),
                        ('const/sr_relative_position_index', 'sr_decoder.')):
        buffers = [
            v for k, v in state.items()
            if k.startswith(prefix) and k.endswith('relative_position_index')
        ]
        expected = fixture[key]
        worst = max(
            buffers,
            key=lambda b: int((b.numpy() != expected).sum())
            if b.shape == expected.shape else 1 << 30)
        report.compare(key, worst, expected,
                       note=f'worst of {len(buffers)} buffers')


def _per_level(flat: torch.Tensor, spatial_shapes) -> List[torch.Tensor]:
    out, start = [], 0
    for h, w in spatial_shapes.tolist():
        out.append(flat[:, start:start + h * w].reshape(-1, 1, h, w))
        start += h * w
    return out


def check(fixture: Fixture, report: EquivalenceReport) -> None:
    """Compare every array of the ``sdconet`` fixture."""
    from mmosar.models.detectors.sdconet_converter import load_released_sdconet
    from mmosar.models.layers.sdconet_salience import (
        salience_targets,
        select_salient_tokens,
    )
    out = fixture
    model = build_released_model()
    info = load_released_sdconet(
        model,
        fixture.released_state_dict(),
        source=str(fixture.root / 'manifest.json'),
        allowed_missing=CONSTANT_BUFFERS)
    _compare_constants(model, fixture, report, info['missing'])
    model.double().eval()

    with torch.no_grad():
        # Data preprocessor (float32, as mmengine's) on the BGR 0..255 image.
        raw = fixture.recipe.make_input('sdconet/image', (1, 3) + IMAGE_SIZE)
        data = model.data_preprocessor(
            dict(inputs=[255 * raw[0]], data_samples=[_sample()]), False)
        report.compare('input/image_preprocessed', data['inputs'],
                       out['input/image_preprocessed'],
                       note='mmosar preprocessor (float32)')
        image = torch.from_numpy(out['input/image_preprocessed'])
        report.compare('input/backbone_input', model.degrade(image),
                       out['input/backbone_input'])

        feats = model.extract_feat(image)
        for i, feat in enumerate(feats):
            report.compare(f'neck/out{i}', feat, out[f'neck/out{i}'])
        samples = [_sample()]
        enc_in, dec_in = model.pre_transformer(feats, samples)
        for key, name in (('feat', 'query'), ('feat_pos', 'query_pos'),
                          ('spatial_shapes', 'spatial_shapes'),
                          ('level_start_index', 'level_start_index'),
                          ('valid_ratios', 'valid_ratios')):
            report.compare(f'encoder/{name}', enc_in[key],
                           out[f'encoder/{name}'])
        shapes = enc_in['spatial_shapes']

        # Saliency and token order.
        logits, valid = model.forward_salience(enc_in['feat'],
                                               enc_in['feat_pos'],
                                               enc_in['feat_mask'], shapes)
        for lvl, score in enumerate(_per_level(logits, shapes)):
            report.compare(f'saliency/score_level{lvl}', score,
                           out[f'saliency/score_level{lvl}'])
        report.compare('saliency/foreground_score_flat', logits,
                       out['saliency/foreground_score_flat'])
        salient_index = select_salient_tokens(logits, valid, shapes,
                                              model.level_keep_ratio)
        report.compare('saliency/selected_inds', salient_index,
                       out['saliency/selected_inds'])
        report.compare('saliency/focus_token_nums',
                       np.array([salient_index.shape[1]]),
                       out['saliency/focus_token_nums'])

        # Encoder, recording each layer's pre-attention choice.
        captured: Dict[str, list] = dict(index=[], class_scores=[])
        handles = [
            layer.register_forward_pre_hook(
                lambda _m, _a, kw: captured['index'].append(
                    kw['pre_attn_index']),
                with_kwargs=True) for layer in model.encoder.layers
        ]
        handles.append(
            model.encoder.pre_attn_class_head.register_forward_hook(
                lambda _m, _a, result: captured['class_scores'].append(
                    result)))
        try:
            enc_out = model.forward_encoder(
                **enc_in, salient_index=salient_index, salience=logits)
        finally:
            for handle in handles:
                handle.remove()
        salience_sorted = logits.gather(1, salient_index)
        for i, (index, cls) in enumerate(
                zip(captured['index'], captured['class_scores'])):
            report.compare(f'encoder/layer{i}_sa_topk_indices', index,
                           out[f'encoder/layer{i}_sa_topk_indices'])
            score = (cls.max(-1)[0] * salience_sorted).sort(
                dim=1, descending=True)[0]
            k = index.shape[1]
            report.compare(f'encoder/layer{i}_sa_topk_margin',
                           score[:, k - 1] - score[:, k],
                           out[f'encoder/layer{i}_sa_topk_margin'])
        report.compare('encoder/memory', enc_out['memory'],
                       out['encoder/memory'])

        # DINO query selection and decoder.
        memory = enc_out['memory']
        output_memory, _ = model.gen_encoder_output_proposals(
            memory, enc_out['memory_mask'], shapes)
        enc_cls = model.bbox_head.cls_branches[model.decoder.num_layers](
            output_memory).max(-1)[0]
        top_scores, top_index = enc_cls.topk(model.num_queries + 1, dim=1)
        report.compare('decoder/topk_indices', top_index[:, :-1],
                       out['decoder/topk_indices'])
        report.compare('decoder/topk_margin',
                       top_scores[:, -2] - top_scores[:, -1],
                       out['decoder/topk_margin'])
        dec_inputs, _ = model.pre_decoder(
            **enc_out, batch_data_samples=samples)
        report.compare('decoder/init_reference',
                       dec_inputs['reference_points'],
                       out['decoder/init_reference'])
        dec_in.update(dec_inputs)
        dec_out = model.forward_decoder(**dec_in)
        cls_scores, boxes = model.bbox_head(dec_out['hidden_states'],
                                            dec_out['references'])
        report.compare('decoder/final_cls_logits', cls_scores[-1],
                       out['decoder/final_cls_logits'])
        report.compare('decoder/final_boxes_cxcywh', boxes[-1],
                       out['decoder/final_boxes_cxcywh'])
        report.compare('decoder/all_layers_cls_logits_first10',
                       cls_scores[:, :, :10],
                       out['decoder/all_layers_cls_logits_first10'])
        report.compare('decoder/all_layers_boxes_first10', boxes[:, :, :10],
                       out['decoder/all_layers_boxes_first10'])

        pred = model.predict(image, [_sample()], rescale=True)[0]
        pred = pred.pred_instances
        report.compare('predict/scores', pred.scores, out['predict/scores'])
        report.compare('predict/labels', pred.labels, out['predict/labels'])
        report.compare('predict/bboxes_xyxy', pred.bboxes,
                       out['predict/bboxes_xyxy'])

        # SR branch (eval = the fixture's train mode with DropPath off).
        _, skips = model.backbone.forward_with_skips(model.degrade(image))
        res4 = []
        handle = model.sr_decoder.bottleneck.register_forward_hook(
            lambda _m, _a, result: res4.append(result))
        try:
            sr = model.sr_decoder(skips, image.shape[-2:])
        finally:
            handle.remove()
        report.compare('sr/res_4', res4[0], out['sr/res_4'])
        report.compare('sr/hw_shapes',
                       np.array([s.shape[-2:] for s in skips[1:]]),
                       out['sr/hw_shapes'])
        report.compare('sr/output', sr, out['sr/output'])
        report.compare('sr/loss_sr', model.sr_loss(sr, image),
                       out['sr/loss_sr'])

        # Saliency loss.
        gt = torch.from_numpy(out['salience_loss/gt_boxes_xyxy'])
        report.compare(
            'salience_loss/feature_strides',
            np.array(IMAGE_SIZE, dtype=np.float64)[None] /
            shapes.numpy().astype(np.float64),
            out['salience_loss/feature_strides'])
        targets = salience_targets([gt], shapes, IMAGE_SIZE,
                                   model.salience_level_ranges)
        report.compare('salience_loss/pred_logits_flat', logits,
                       out['salience_loss/pred_logits_flat'])
        report.compare('salience_loss/targets_flat', targets,
                       out['salience_loss/targets_flat'])
        report.compare('salience_loss/per_element',
                       model.salience_loss.elementwise(logits, targets),
                       out['salience_loss/per_element'])
        report.compare('salience_loss/num_pos', (targets > 0).sum(),
                       out['salience_loss/num_pos'])
        report.compare('salience_loss/loss_salience',
                       model.salience_loss(logits, targets, valid),
                       out['salience_loss/loss_salience'])
