"""One-stage detector with refinement stages (R3Det, S2A-Net)."""
from typing import List, Sequence, Tuple, Union

from mmdet.models.detectors.base import BaseDetector
from mmdet.models.utils import unpack_gt_instances
from mmdet.structures import OptSampleList, SampleList
from mmdet.utils import ConfigType, OptConfigType, OptMultiConfig
from mmengine.model import ModuleList
from torch import Tensor

from mmosar.registry import MODELS


@MODELS.register_module()
class RefineSingleStageDetector(BaseDetector):
    """Backbone, neck, an initial dense head and refinement heads
    (mmrotate 1.x ``RefineSingleStageDetector``).

    The initial head's best box per location (``filter_bboxes``) becomes the
    refinement stage's RoI; each refinement head re-samples the features
    along those boxes (``feature_refine``), predicts again relative to them
    and, between stages, refines them (``refine_bboxes``). The last stage
    makes the detections. Losses of the initial head are suffixed ``_init``,
    those of stage ``i`` ``_refine_{i}`` (weighted by
    ``train_cfg.stage_loss_weights[i]``).

    Args:
        backbone (dict): Backbone config.
        neck (dict, optional): Neck config.
        bbox_head_init (dict): Initial head config (``train_cfg.init``).
        bbox_head_refine (list[dict]): Refinement heads
            (``train_cfg.refine[i]``).
        train_cfg (dict, optional): ``init``, ``refine`` and
            ``stage_loss_weights``.
        test_cfg (dict, optional): Post-processing of every head.
        data_preprocessor (dict, optional): Data preprocessor.
        init_cfg (dict, optional): Initialisation config.
    """

    def __init__(self,
                 backbone: ConfigType,
                 neck: OptConfigType = None,
                 bbox_head_init: OptConfigType = None,
                 bbox_head_refine: List[OptConfigType] = None,
                 train_cfg: OptConfigType = None,
                 test_cfg: OptConfigType = None,
                 data_preprocessor: OptConfigType = None,
                 init_cfg: OptMultiConfig = None) -> None:
        super().__init__(
            data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        self.backbone = MODELS.build(backbone)
        if neck is not None:
            self.neck = MODELS.build(neck)
        if train_cfg is not None:
            bbox_head_init.update(train_cfg=train_cfg['init'])
        bbox_head_init.update(test_cfg=test_cfg)
        self.bbox_head_init = MODELS.build(bbox_head_init)
        self.num_refine_stages = len(bbox_head_refine)
        self.bbox_head_refine = ModuleList()
        for i, refine_head in enumerate(bbox_head_refine):
            if train_cfg is not None:
                refine_head.update(train_cfg=train_cfg['refine'][i])
            refine_head.update(test_cfg=test_cfg)
            self.bbox_head_refine.append(MODELS.build(refine_head))
        self.train_cfg = train_cfg
        self.test_cfg = test_cfg

    def extract_feat(self, batch_inputs: Tensor) -> Tuple[Tensor]:
        """Backbone (and neck) features."""
        x = self.backbone(batch_inputs)
        return self.neck(x) if self.with_neck else x

    def _stages(self, x: Tuple[Tensor]) -> Tuple[tuple, list]:
        """Run all heads; the last stage's outputs and RoIs."""
        outs = self.bbox_head_init(x)
        rois = self.bbox_head_init.filter_bboxes(*outs)
        for i, head in enumerate(self.bbox_head_refine):
            outs = head(head.feature_refine(x, rois))
            if i + 1 < self.num_refine_stages:
                rois = head.refine_bboxes(*outs, rois=rois)
        return outs, rois

    def loss(self, batch_inputs: Tensor,
             batch_data_samples: SampleList) -> Union[dict, list]:
        """Losses of every stage."""
        x = self.extract_feat(batch_inputs)
        gt_instances, gt_ignore, img_metas = unpack_gt_instances(
            batch_data_samples)
        outs = self.bbox_head_init(x)
        init_losses = self.bbox_head_init.loss_by_feat(
            *outs, gt_instances, img_metas, gt_ignore)
        losses = {(f'{k}_init' if 'loss' in k and 'init' not in k else k): v
                  for k, v in init_losses.items()}
        rois = self.bbox_head_init.filter_bboxes(*outs)
        for i, head in enumerate(self.bbox_head_refine):
            weight = self.train_cfg['stage_loss_weights'][i]
            outs = head(head.feature_refine(x, rois))
            stage = head.loss_by_feat(
                *outs, gt_instances, img_metas, gt_ignore, rois=rois)
            for key, loss in stage.items():
                if 'loss' in key and 'refine' not in key:
                    loss = ([item * weight for item in loss] if isinstance(
                        loss, Sequence) else loss * weight)
                    key = f'{key}_refine_{i}'
                losses[key] = loss
            if i + 1 < self.num_refine_stages:
                rois = head.refine_bboxes(*outs, rois=rois)
        return losses

    def predict(self,
                batch_inputs: Tensor,
                batch_data_samples: SampleList,
                rescale: bool = True) -> SampleList:
        """Detections of the last refinement stage."""
        outs, rois = self._stages(self.extract_feat(batch_inputs))
        predictions = self.bbox_head_refine[-1].predict_by_feat(
            *outs,
            rois=rois,
            batch_img_metas=[s.metainfo for s in batch_data_samples],
            rescale=rescale)
        return self.add_pred_to_datasample(batch_data_samples, predictions)

    def _forward(self,
                 batch_inputs: Tensor,
                 batch_data_samples: OptSampleList = None) -> tuple:
        """Raw outputs of the last stage."""
        return self._stages(self.extract_feat(batch_inputs))[0]
