"""Heads of refine-stage detectors: R3Det (``R3Head``, ``R3RefineHead``)
and S2A-Net (``S2AHead``, ``S2ARefineHead``), as mmrotate 1.x."""
from typing import List, Optional, Tuple, Union

import torch
from mmcv.cnn import ConvModule
from mmdet.models.dense_heads.anchor_head import AnchorHead
from mmdet.models.utils import select_single_mlvl
from mmdet.structures.bbox import get_box_tensor
from mmdet.utils import InstanceList, OptInstanceList
from mmengine.config import ConfigDict
from torch import Tensor, nn

from mmosar.registry import MODELS
from mmosar.structures.bbox import RotatedBoxes

from ..layers import ORConv2d, RotationInvariantPooling
from .angle_branch import as_rotated_results
from .rotated_retina_head import RotatedRetinaHead


@MODELS.register_module()
class R3Head(RotatedRetinaHead):
    """Initial head of R3Det (Yang et al., AAAI 2021): a rotated RetinaNet
    head whose best box per location feeds the refinement stage.

    ``filter_bboxes`` keeps, at each location, the anchor with the highest
    class score (max over classes) and decodes its deltas.
    """

    def filter_bboxes(self, cls_scores: List[Tensor],
                      bbox_preds: List[Tensor]) -> List[List[Tensor]]:
        """Per image, per level (H * W, 5) best decoded box of each
        location (detached)."""
        num_imgs = cls_scores[0].size(0)
        featmap_sizes = [score.shape[-2:] for score in cls_scores]
        mlvl_anchors = self.prior_generator.grid_priors(
            featmap_sizes, device=cls_scores[0].device)
        boxes = [[] for _ in range(num_imgs)]
        for cls_score, bbox_pred, anchors in zip(cls_scores, bbox_preds,
                                                 mlvl_anchors):
            score = cls_score.permute(0, 2, 3, 1).reshape(
                num_imgs, -1, self.num_base_priors, self.cls_out_channels)
            best = score.max(dim=-1, keepdim=True)[0].argmax(
                dim=-2, keepdim=True).expand(-1, -1, -1, 5)
            pred = bbox_pred.permute(0, 2, 3, 1).reshape(
                num_imgs, -1, self.num_base_priors, 5)
            best_pred = pred.gather(dim=-2, index=best).squeeze(dim=-2)
            anchors = get_box_tensor(anchors).reshape(
                -1, self.num_base_priors, 5)
            for img in range(num_imgs):
                best_anchor = anchors.gather(
                    dim=-2, index=best[img]).squeeze(dim=-2)
                decoded = self.bbox_coder.decode(
                    RotatedBoxes(best_anchor), best_pred[img])
                boxes[img].append(get_box_tensor(decoded).detach())
        return boxes


@MODELS.register_module()
class R3RefineHead(RotatedRetinaHead):
    """Refinement head of R3Det: a rotated RetinaNet head on FRM-refined
    features whose single anchor per location is the previous stage's box
    (``rois``); ``anchor_generator`` is ``PseudoRotatedAnchorGenerator``.

    Args:
        num_classes (int): Number of object classes.
        in_channels (int): Channels of the input maps.
        frm_cfg (dict): Feature refinement module (``FRM``).
        **kwargs: Arguments of :class:`RotatedRetinaHead`.
    """

    def __init__(self,
                 num_classes: int,
                 in_channels: int,
                 frm_cfg: dict = None,
                 **kwargs) -> None:
        super().__init__(
            num_classes=num_classes, in_channels=in_channels, **kwargs)
        self.feat_refine_module = MODELS.build(frm_cfg)
        self.bboxes_as_anchors = None

    def loss_by_feat(self,
                     cls_scores: List[Tensor],
                     bbox_preds: List[Tensor],
                     batch_gt_instances: InstanceList,
                     batch_img_metas: List[dict],
                     batch_gt_instances_ignore: OptInstanceList = None,
                     rois: List[List[Tensor]] = None) -> dict:
        """RetinaNet losses with the previous stage's boxes as anchors."""
        if rois is None:
            raise ValueError('R3RefineHead.loss_by_feat needs rois.')
        self.bboxes_as_anchors = rois
        return AnchorHead.loss_by_feat(
            self,
            cls_scores=cls_scores,
            bbox_preds=bbox_preds,
            batch_gt_instances=batch_gt_instances,
            batch_img_metas=batch_img_metas,
            batch_gt_instances_ignore=batch_gt_instances_ignore)

    def get_anchors(self,
                    featmap_sizes: List[tuple],
                    batch_img_metas: List[dict],
                    device: Union[torch.device, str] = 'cuda'
                    ) -> Tuple[list, list]:
        """The stored RoIs as anchors, and the usual valid flags."""
        anchor_list = [[RotatedBoxes(level).detach() for level in img]
                       for img in self.bboxes_as_anchors]
        valid_flag_list = [
            self.prior_generator.valid_flags(featmap_sizes,
                                             meta['pad_shape'], device)
            for meta in batch_img_metas
        ]
        return anchor_list, valid_flag_list

    def predict_by_feat(self,
                        cls_scores: List[Tensor],
                        bbox_preds: List[Tensor],
                        score_factors: Optional[List[Tensor]] = None,
                        rois: List[List[Tensor]] = None,
                        batch_img_metas: Optional[List[dict]] = None,
                        cfg: Optional[ConfigDict] = None,
                        rescale: bool = False,
                        with_nms: bool = True) -> InstanceList:
        """Decode relative to the RoIs, score-filter, rotated NMS; with
        ``rescale`` the angles are wrapped into (-pi, pi] as mmrotate's
        rescaling does."""
        if rois is None:
            raise ValueError('R3RefineHead.predict_by_feat needs rois.')
        num_levels = len(cls_scores)
        results = []
        for img_id, img_meta in enumerate(batch_img_metas):
            results.append(
                self._predict_by_feat_single(
                    cls_score_list=select_single_mlvl(
                        cls_scores, img_id, detach=True),
                    bbox_pred_list=select_single_mlvl(
                        bbox_preds, img_id, detach=True),
                    score_factor_list=(select_single_mlvl(
                        score_factors, img_id, detach=True)
                                       if score_factors is not None else
                                       [None] * num_levels),
                    mlvl_priors=rois[img_id],
                    img_meta=img_meta,
                    cfg=cfg,
                    rescale=rescale,
                    with_nms=with_nms))
        results = as_rotated_results(results)
        if rescale:
            # mmrotate's RotatedBoxes.rescale_ recomputes every angle with
            # atan2, i.e. wraps it into (-pi, pi] (R3Det's 'oc' angles are
            # otherwise not range-normalised); mmosar's keeps the angle
            for result in results:
                angle = result.bboxes.tensor[:, 4]
                result.bboxes.tensor[:, 4] = torch.atan2(
                    torch.sin(angle), torch.cos(angle))
        return results

    def feature_refine(self, x: List[Tensor],
                       rois: List[List[Tensor]]) -> List[Tensor]:
        """FRM-refined features along the RoIs."""
        return self.feat_refine_module(x, rois)

    def refine_bboxes(self, cls_scores: List[Tensor],
                      bbox_preds: List[Tensor],
                      rois: List[List[Tensor]]) -> List[List[Tensor]]:
        """The RoIs moved by this stage's deltas, for the next stage."""
        num_imgs = cls_scores[0].size(0)
        boxes = [[] for _ in range(num_imgs)]
        for bbox_pred, level_rois in zip(bbox_preds,
                                         [torch.cat(r) for r in zip(*rois)]):
            deltas = bbox_pred.permute(0, 2, 3, 1).reshape(-1, 5)
            refined = get_box_tensor(
                self.bbox_coder.decode(level_rois, deltas)).reshape(
                    num_imgs, -1, 5)
            for img in range(num_imgs):
                boxes[img].append(refined[img].detach())
        return boxes


@MODELS.register_module()
class S2AHead(R3Head):
    """Initial head of S2A-Net (Han et al., TGRS 2021): a rotated RetinaNet
    head with one anchor per location whose decoded boxes feed the
    alignment convolution (``filter_bboxes`` of :class:`R3Head` with a
    single anchor), as mmrotate 1.x ``S2AHead``."""


@MODELS.register_module()
class S2ARefineHead(R3RefineHead):
    """Oriented detection module of S2A-Net, as mmrotate 1.x
    ``S2ARefineHead``: features aligned to the initial boxes
    (``frm_cfg``, usually ``AlignConv``) go through an oriented response
    convolution ``or_conv`` (``ORConv2d``, 8 rotations, ``feat_channels / 8``
    filters); the regression tower takes the orientation-sensitive maps,
    the classification tower their rotation-invariant pooling ``or_pool``.
    Anchors, losses, decoding and refinement are those of
    :class:`R3RefineHead`.
    """

    def _init_layers(self) -> None:
        """``or_conv``, ``or_pool``, towers, ``retina_cls``,
        ``retina_reg``."""
        self.or_conv = ORConv2d(
            self.in_channels,
            int(self.feat_channels / 8),
            kernel_size=3,
            padding=1,
            arf_config=(1, 8))
        self.or_pool = RotationInvariantPooling(self.feat_channels, 8)
        self.relu = nn.ReLU(inplace=True)
        self.cls_convs = nn.ModuleList()
        self.reg_convs = nn.ModuleList()
        for i in range(self.stacked_convs):
            self.cls_convs.append(
                ConvModule(
                    int(self.feat_channels / 8) if i == 0 else
                    self.feat_channels,
                    self.feat_channels,
                    3,
                    stride=1,
                    padding=1,
                    conv_cfg=self.conv_cfg,
                    norm_cfg=self.norm_cfg))
            self.reg_convs.append(
                ConvModule(
                    self.feat_channels,
                    self.feat_channels,
                    3,
                    stride=1,
                    padding=1,
                    conv_cfg=self.conv_cfg,
                    norm_cfg=self.norm_cfg))
        self.retina_cls = nn.Conv2d(
            self.feat_channels,
            self.num_base_priors * self.cls_out_channels,
            3,
            padding=1)
        self.retina_reg = nn.Conv2d(
            self.feat_channels,
            self.num_base_priors * self.bbox_coder.encode_size,
            3,
            padding=1)

    def forward_single(self, x: Tensor) -> Tuple[Tensor, Tensor]:
        """Class scores and deltas of one level."""
        x = self.or_conv(x)
        cls_feat, reg_feat = self.or_pool(x), x
        for conv in self.cls_convs:
            cls_feat = conv(cls_feat)
        for conv in self.reg_convs:
            reg_feat = conv(reg_feat)
        return self.retina_cls(cls_feat), self.retina_reg(reg_feat)
