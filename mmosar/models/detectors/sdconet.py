"""SDCoNet: saliency-driven multi-task collaborative network (SR + DINO).

Detectors, each extending the previous one:

- :class:`DegradedInputDINO`: mmdet's DINO run on a low-quality input made
  inside the model (bicubic x0.5 down-sampling of the normalised batch by
  default). Ground-truth boxes stay in high-resolution (HR) pixels; DETR
  normalises them by the image size, so the low-resolution (LR) features see
  the same relative boxes. Used as the "DINO on degraded input" baseline.
- :class:`SalienceDINO`: + saliency-driven query selection (a saliency scorer
  on the encoder tokens with its focal loss; the top tokens are the ones the
  encoder updates and the candidates of the two-stage query selection).
- :class:`SDCoNet`: + the train-time-only SR decoder on the shared Swin
  encoder with an L1 loss against the HR input, and gradient routing (the SR
  branch off until a switch epoch, see :class:`SRRoutingHook`; optionally the
  SR gradient into the shared encoder scaled or stopped).
- :class:`SerialSRDINO`: the serial baseline, SR network then DINO on the SR
  image (two encoders at test time), for the accuracy/FLOPs comparison.
"""
import copy
from typing import Dict, List, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from mmdet.models.detectors import DINO
from mmdet.structures import OptSampleList, SampleList
from torch import Tensor, nn

from mmosar.registry import MODELS

from ..layers.sdconet_encoder import SalienceEncoder
from ..layers.sdconet_salience import (
    level_of_tokens,
    salience_targets,
    select_salient_tokens,
)
from ..layers.sdconet_sr import scale_gradient

# Largest-border-distance ranges (HR pixels) of the four saliency levels.
SALIENCE_LEVEL_RANGES = ((-1, 64), (64, 128), (128, 256), (256, 1e8))


@MODELS.register_module()
class DegradedInputDINO(DINO):
    """DINO detecting on a down-sampled copy of its input batch.

    Args:
        degrade_scale: Down-sampling factor of the low-quality input
            (0.5 = x2 degradation); 1 disables the degradation.
        degrade_mode: ``F.interpolate`` mode (``'bicubic'``).
        degrade_antialias: Low-pass filter before down-sampling (the released
            code does not).
        *args, **kwargs: :class:`mmdet.models.DINO` arguments.
    """

    def __init__(self,
                 *args,
                 degrade_scale: float = 0.5,
                 degrade_mode: str = 'bicubic',
                 degrade_antialias: bool = False,
                 **kwargs) -> None:
        if not 0 < degrade_scale <= 1:
            raise ValueError(f'degrade_scale must be in (0, 1], got '
                             f'{degrade_scale}')
        self.degrade_scale = degrade_scale
        self.degrade_mode = degrade_mode
        self.degrade_antialias = degrade_antialias
        super().__init__(*args, **kwargs)

    def degrade(self, batch_inputs: Tensor) -> Tensor:
        """Low-quality input.

        Args:
            batch_inputs: ``(B, 3, H, W)`` normalised HR batch.

        Returns:
            Tensor: ``(B, 3, floor(H * s), floor(W * s))`` LR batch.
        """
        if self.degrade_scale == 1:
            return batch_inputs
        align = False if self.degrade_mode in ('bilinear', 'bicubic') else None
        return F.interpolate(
            batch_inputs,
            scale_factor=self.degrade_scale,
            mode=self.degrade_mode,
            align_corners=align,
            antialias=self.degrade_antialias)

    def extract_feat(self, batch_inputs: Tensor) -> Tuple[Tensor]:
        """Neck features of the degraded batch."""
        return super().extract_feat(self.degrade(batch_inputs))


@MODELS.register_module()
class SalienceDINO(DegradedInputDINO):
    """DINO with saliency-driven token and query selection.

    The flattened tokens plus their position/level embeddings go through the
    two-stage memory transform (shared with proposal generation) and the
    coarse-to-fine saliency scorer. Per level the top
    ``level_keep_ratio`` tokens by saliency are selected (all of them in the
    released setting); the :class:`SalienceEncoder` updates only those, tokens
    never selected get a learned per-level background embedding, and the
    two-stage query selection picks its queries among the selected tokens.

    Args:
        salience_scorer: Config of the saliency scorer
            (:class:`CoarseToFineSalience`).
        salience_loss: Config of the saliency loss
            (:class:`SalienceFocalLoss`, weight 2).
        salience_level_ranges: ``(lo, hi]`` largest-border-distance range
            (HR pixels) of each level for the saliency target.
        level_keep_ratio: Share of the valid tokens kept per level.
        *args, **kwargs: :class:`DegradedInputDINO` arguments; ``encoder`` is
            a :class:`SalienceEncoder` config, where
            ``pre_attn_class_ranking=True`` sets its
            ``pre_attn_num_classes`` to the head's classes (released).
    """

    def __init__(self,
                 *args,
                 salience_scorer: dict = dict(type='CoarseToFineSalience'),
                 salience_loss: dict = dict(
                     type='SalienceFocalLoss', loss_weight=2.0),
                 salience_level_ranges: Sequence[Tuple[float, float]] = (
                     SALIENCE_LEVEL_RANGES),
                 level_keep_ratio: Optional[Sequence[float]] = None,
                 **kwargs) -> None:
        super().__init__(*args, **kwargs)
        salience_scorer = dict(salience_scorer)
        salience_scorer.setdefault('num_levels', self.num_feature_levels)
        self.salience_scorer = MODELS.build(salience_scorer)
        self.salience_loss = MODELS.build(salience_loss)
        if len(salience_level_ranges) != self.num_feature_levels:
            raise ValueError(
                f'salience_level_ranges has {len(salience_level_ranges)} '
                f'ranges for {self.num_feature_levels} feature levels')
        self.salience_level_ranges = tuple(
            tuple(r) for r in salience_level_ranges)
        self.level_keep_ratio = tuple(
            level_keep_ratio or (1.0, ) * self.num_feature_levels)
        # Only token filtering leaves valid tokens unselected; without it the
        # embedding would be an unused parameter (an error under DDP).
        self.background_embed = None
        if any(ratio < 1 for ratio in self.level_keep_ratio):
            self.background_embed = nn.Embedding(self.num_feature_levels,
                                                 self.embed_dims)
            nn.init.zeros_(self.background_embed.weight)

    def _init_layers(self) -> None:
        # DINO builds a plain encoder (and the layers around it) from
        # ``self.encoder``: give it the config without the saliency keys,
        # then replace the encoder.
        # ``pre_attn_class_ranking=True`` (released) gives the encoder a
        # pre-attention class head with the detector's classes.
        encoder_cfg = copy.deepcopy(self.encoder)
        if encoder_cfg.pop('pre_attn_class_ranking', False):
            encoder_cfg['pre_attn_num_classes'] = self.bbox_head.num_classes
        plain_cfg = copy.deepcopy(encoder_cfg)
        for key in ('layer_keep_ratio', 'value_from_input',
                    'pre_attn_num_classes'):
            plain_cfg.pop(key, None)
        for key in ('pre_attn_topk', 'pre_attn_cfg', 'double_residual'):
            plain_cfg.get('layer_cfg', {}).pop(key, None)
        self.encoder = plain_cfg
        super()._init_layers()
        self.encoder = SalienceEncoder(**encoder_cfg)

    def forward_salience(self, feat: Tensor, feat_pos: Tensor,
                         feat_mask: Optional[Tensor],
                         spatial_shapes: Tensor) -> Tuple[Tensor, Tensor]:
        """Saliency logits of all tokens.

        The tokens are ``feat + feat_pos`` through the two-stage memory
        transform, with the rows whose proposal DINO would discard (padding,
        or a centre within 1 % of the border) zeroed first
        (``gen_encoder_output_proposals``, as released and in Salience-DETR).

        Args:
            feat: ``(B, N, C)`` flattened features.
            feat_pos: ``(B, N, C)`` positional + level embeddings.
            feat_mask: ``(B, N)`` padding mask or None.
            spatial_shapes: ``(L, 2)`` level sizes.

        Returns:
            tuple: ``(B, N)`` logits and ``(B, N)`` bool validity.
        """
        valid = (
            torch.ones(feat.shape[:2], dtype=torch.bool, device=feat.device)
            if feat_mask is None else ~feat_mask)
        tokens = self.gen_encoder_output_proposals(feat + feat_pos, feat_mask,
                                                   spatial_shapes)[0]
        return self.salience_scorer(tokens, valid, spatial_shapes), valid

    def forward_encoder(self, feat: Tensor, feat_mask: Optional[Tensor],
                        feat_pos: Tensor, spatial_shapes: Tensor,
                        level_start_index: Tensor, valid_ratios: Tensor,
                        salient_index: Tensor, salience: Tensor) -> Dict:
        """Encode the salient tokens (see :class:`SalienceEncoder`).

        ``salience`` is the ``(B, N)`` saliency logits.

        Returns:
            dict: ``memory`` ``(B, N, C)``, ``memory_mask``,
            ``spatial_shapes`` and ``query_candidates`` (``(B, N)`` bool,
            True for the selected tokens; None when every valid token is
            selected).
        """
        memory = self.encoder(
            query=feat,
            query_pos=feat_pos,
            key_padding_mask=feat_mask,
            spatial_shapes=spatial_shapes,
            level_start_index=level_start_index,
            valid_ratios=valid_ratios,
            salient_index=salient_index,
            salience=salience)
        selected = torch.zeros(
            memory.shape[:2], dtype=torch.bool, device=memory.device).scatter(
                1, salient_index,
                torch.ones_like(salient_index, dtype=torch.bool))
        background = ~selected
        if feat_mask is not None:
            background &= ~feat_mask
        query_candidates = None
        if background.any():
            memory = memory + background.unsqueeze(-1) * (
                self.background_embed(level_of_tokens(spatial_shapes)))
            query_candidates = selected
        return dict(
            memory=memory,
            memory_mask=feat_mask,
            spatial_shapes=spatial_shapes,
            query_candidates=query_candidates)

    def pre_decoder(self,
                    memory: Tensor,
                    memory_mask: Optional[Tensor],
                    spatial_shapes: Tensor,
                    batch_data_samples: OptSampleList = None,
                    query_candidates: Optional[Tensor] = None) -> Tuple[Dict]:
        """DINO's query selection restricted to the salient tokens.

        With every token selected (``query_candidates`` None) this is DINO's
        ``pre_decoder``. Otherwise the class scores of unselected tokens are
        set to ``-inf`` for the top-k of the two-stage query selection.
        """
        if query_candidates is None:
            return super().pre_decoder(memory, memory_mask, spatial_shapes,
                                       batch_data_samples)
        head = self.bbox_head
        enc_layer = self.decoder.num_layers
        output_memory, output_proposals = self.gen_encoder_output_proposals(
            memory, memory_mask, spatial_shapes)
        enc_outputs_class = head.cls_branches[enc_layer](output_memory)
        enc_outputs_coord_unact = head.reg_branches[enc_layer](
            output_memory) + output_proposals
        ranking = enc_outputs_class.max(-1)[0].masked_fill(
            ~query_candidates, float('-inf'))
        num_kept = int(query_candidates.sum(1).min())
        if num_kept < self.num_queries:
            raise ValueError(
                f'only {num_kept} salient tokens are kept for '
                f'{self.num_queries} queries: raise level_keep_ratio')
        topk_indices = ranking.topk(self.num_queries, dim=1)[1]
        topk_score = enc_outputs_class.gather(
            1,
            topk_indices.unsqueeze(-1).expand(-1, -1,
                                              enc_outputs_class.shape[-1]))
        topk_coords_unact = enc_outputs_coord_unact.gather(
            1,
            topk_indices.unsqueeze(-1).expand(-1, -1, 4))
        topk_coords = topk_coords_unact.sigmoid()
        topk_coords_unact = topk_coords_unact.detach()
        bs = memory.shape[0]
        query = self.query_embedding.weight[None].repeat(bs, 1, 1)
        if self.training:
            dn_label_query, dn_bbox_query, dn_mask, dn_meta = \
                self.dn_query_generator(batch_data_samples)
            query = torch.cat([dn_label_query, query], dim=1)
            reference_points = torch.cat([dn_bbox_query, topk_coords_unact],
                                         dim=1)
        else:
            reference_points = topk_coords_unact
            dn_mask, dn_meta = None, None
        decoder_inputs_dict = dict(
            query=query,
            memory=memory,
            reference_points=reference_points.sigmoid(),
            dn_mask=dn_mask)
        head_inputs_dict = dict(
            enc_outputs_class=topk_score,
            enc_outputs_coord=topk_coords,
            dn_meta=dn_meta) if self.training else dict()
        return decoder_inputs_dict, head_inputs_dict

    def forward_transformer_with_salience(
            self,
            img_feats: Tuple[Tensor],
            batch_data_samples: OptSampleList = None) -> Tuple[Dict, Dict]:
        """pre_transformer -> saliency -> encoder -> pre_decoder -> decoder.

        Returns:
            tuple: The bbox head inputs and ``dict(logits, valid,
            spatial_shapes)`` of the saliency scorer.
        """
        encoder_inputs_dict, decoder_inputs_dict = self.pre_transformer(
            img_feats, batch_data_samples)
        logits, valid = self.forward_salience(
            encoder_inputs_dict['feat'], encoder_inputs_dict['feat_pos'],
            encoder_inputs_dict['feat_mask'],
            encoder_inputs_dict['spatial_shapes'])
        salient_index = select_salient_tokens(
            logits, valid, encoder_inputs_dict['spatial_shapes'],
            self.level_keep_ratio)
        encoder_outputs_dict = self.forward_encoder(
            **encoder_inputs_dict,
            salient_index=salient_index,
            salience=logits)
        tmp_dec_in, head_inputs_dict = self.pre_decoder(
            **encoder_outputs_dict, batch_data_samples=batch_data_samples)
        decoder_inputs_dict.update(tmp_dec_in)
        head_inputs_dict.update(self.forward_decoder(**decoder_inputs_dict))
        salience = dict(
            logits=logits,
            valid=valid,
            spatial_shapes=encoder_inputs_dict['spatial_shapes'])
        return head_inputs_dict, salience

    def forward_transformer(self,
                            img_feats: Tuple[Tensor],
                            batch_data_samples: OptSampleList = None) -> Dict:
        """Bbox head inputs (see :meth:`forward_transformer_with_salience`)."""
        return self.forward_transformer_with_salience(img_feats,
                                                      batch_data_samples)[0]

    def detection_and_salience_losses(
            self, img_feats: Tuple[Tensor],
            batch_data_samples: SampleList) -> Dict[str, Tensor]:
        """DINO losses plus ``loss_salience``."""
        head_inputs_dict, salience = self.forward_transformer_with_salience(
            img_feats, batch_data_samples)
        losses = self.bbox_head.loss(
            **head_inputs_dict, batch_data_samples=batch_data_samples)
        targets = salience_targets(
            [s.gt_instances.bboxes
             for s in batch_data_samples], salience['spatial_shapes'],
            batch_data_samples[0].batch_input_shape,
            self.salience_level_ranges)
        losses['loss_salience'] = self.salience_loss(salience['logits'],
                                                     targets,
                                                     salience['valid'])
        return losses

    def loss(self, batch_inputs: Tensor,
             batch_data_samples: SampleList) -> Dict[str, Tensor]:
        """Detection and saliency losses on the degraded batch."""
        return self.detection_and_salience_losses(
            self.extract_feat(batch_inputs), batch_data_samples)


@MODELS.register_module()
class SDCoNet(SalienceDINO):
    """SDCoNet: saliency DINO + a train-time-only SR decoder on the shared
    Swin encoder.

    In training the shared encoder (:class:`SwinTransformerSR`) also returns
    its skips; :class:`SwinSRDecoder` reconstructs the HR batch from them and
    ``loss_sr`` (L1, weight 5) compares it with the normalised HR input. At
    inference (``predict`` and ``tensor`` mode) the decoder is never run.

    Gradient routing: while the SR branch is off (:meth:`set_sr_enabled`,
    switched on by :class:`SRRoutingHook` at its epoch) the decoder does
    not run, gets no gradient and no SR loss is computed.
    ``sr_encoder_grad_scale`` multiplies the SR gradient that reaches the
    shared encoder (1: released behaviour; 0: detection-only encoder, SR
    decoder trained on its features).

    Args:
        sr_decoder: Config of the SR decoder.
        sr_loss: Config of the SR loss.
        sr_enabled: Whether the SR branch trains from the start (False with
            :class:`SRRoutingHook`).
        sr_encoder_grad_scale: Factor on the SR gradient into the encoder.
        *args, **kwargs: :class:`SalienceDINO` arguments; ``backbone`` must
            provide ``forward_with_skips``.
    """

    def __init__(self,
                 *args,
                 sr_decoder: dict = dict(type='SwinSRDecoder'),
                 sr_loss: dict = dict(type='L1Loss', loss_weight=5.0),
                 sr_enabled: bool = True,
                 sr_encoder_grad_scale: float = 1.0,
                 **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if not hasattr(self.backbone, 'forward_with_skips'):
            raise TypeError(
                'SDCoNet needs a backbone with forward_with_skips (e.g. '
                f'SwinTransformerSR), got {type(self.backbone).__name__}')
        if sr_encoder_grad_scale < 0:
            raise ValueError('sr_encoder_grad_scale must be >= 0, got '
                             f'{sr_encoder_grad_scale}')
        self.sr_decoder = MODELS.build(sr_decoder)
        self.sr_loss = MODELS.build(sr_loss)
        self.sr_encoder_grad_scale = sr_encoder_grad_scale
        self.set_sr_enabled(sr_enabled)

    def set_sr_enabled(self, enabled: bool) -> None:
        """Switch the SR branch on or off.

        Off: the SR decoder does not run and ``loss_sr`` is not computed, so
        the decoder gets no gradient (``None``; optimizers skip it) and the
        shared encoder learns from detection and saliency only. The
        parameters keep ``requires_grad=True`` on purpose: DDP registers only
        trainable parameters when it wraps the model, so parameters frozen
        then would never be synchronised after the switch.
        """
        self.sr_enabled = bool(enabled)

    def super_resolve(self, skips: List[Tensor],
                      out_size: Tuple[int, int]) -> Tensor:
        """SR image ``(B, 3, H, W)`` from the encoder skips."""
        skips = [scale_gradient(s, self.sr_encoder_grad_scale) for s in skips]
        return self.sr_decoder(skips, out_size)

    def loss(self, batch_inputs: Tensor,
             batch_data_samples: SampleList) -> Dict[str, Tensor]:
        """Detection, saliency and (when enabled) SR losses.

        Args:
            batch_inputs: ``(B, 3, H, W)`` normalised HR batch (the SR
                target); the model detects on its degraded copy.
            batch_data_samples: Samples with ``gt_instances`` in HR pixels.

        Returns:
            dict: DINO losses, ``loss_salience`` and ``loss_sr``.
        """
        lr_inputs = self.degrade(batch_inputs)
        if self.sr_enabled:
            feats, skips = self.backbone.forward_with_skips(lr_inputs)
        else:
            feats = self.backbone(lr_inputs)
        img_feats = self.neck(feats) if self.with_neck else feats
        losses = self.detection_and_salience_losses(img_feats,
                                                    batch_data_samples)
        if self.sr_enabled:
            sr_image = self.super_resolve(skips, batch_inputs.shape[-2:])
            losses['loss_sr'] = self.sr_loss(sr_image, batch_inputs)
        return losses


@MODELS.register_module()
class SerialSRDINO(DegradedInputDINO):
    """Serial baseline: an SR network, then DINO on the SR image.

    The SR network is its own Swin encoder (``sr_backbone``, with
    ``forward_with_skips``) plus an SR decoder; the detection backbone runs on
    its HR-sized output, in training and at test time.

    Args:
        sr_backbone: Config of the SR encoder.
        sr_decoder: Config of the SR decoder.
        sr_loss: Config of the SR loss (L1, weight 5).
        detach_sr: Stop the detection gradient at the SR image (the two
            networks then train independently, as the released
            ``DINO_SR_TS``); False trains end to end.
        *args, **kwargs: :class:`DegradedInputDINO` arguments.
    """

    def __init__(self,
                 *args,
                 sr_backbone: dict,
                 sr_decoder: dict = dict(type='SwinSRDecoder'),
                 sr_loss: dict = dict(type='L1Loss', loss_weight=5.0),
                 detach_sr: bool = True,
                 **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.sr_backbone = MODELS.build(sr_backbone)
        if not hasattr(self.sr_backbone, 'forward_with_skips'):
            raise TypeError(
                'SerialSRDINO needs an sr_backbone with forward_with_skips, '
                f'got {type(self.sr_backbone).__name__}')
        self.sr_decoder = MODELS.build(sr_decoder)
        self.sr_loss = MODELS.build(sr_loss)
        self.detach_sr = detach_sr

    def super_resolve(self, batch_inputs: Tensor) -> Tensor:
        """SR image ``(B, 3, H, W)`` of the degraded HR batch."""
        skips = self.sr_backbone.forward_with_skips(
            self.degrade(batch_inputs))[1]
        return self.sr_decoder(skips, batch_inputs.shape[-2:])

    def _detect_features(self, sr_image: Tensor) -> Tuple[Tensor]:
        x = sr_image.detach() if self.detach_sr else sr_image
        x = self.backbone(x)
        return self.neck(x) if self.with_neck else x

    def extract_feat(self, batch_inputs: Tensor) -> Tuple[Tensor]:
        """Neck features of the super-resolved degraded batch."""
        return self._detect_features(self.super_resolve(batch_inputs))

    def loss(self, batch_inputs: Tensor,
             batch_data_samples: SampleList) -> Dict[str, Tensor]:
        """DINO losses on the SR image plus ``loss_sr``."""
        sr_image = self.super_resolve(batch_inputs)
        head_inputs_dict = self.forward_transformer(
            self._detect_features(sr_image), batch_data_samples)
        losses = self.bbox_head.loss(
            **head_inputs_dict, batch_data_samples=batch_data_samples)
        losses['loss_sr'] = self.sr_loss(sr_image, batch_inputs)
        return losses
