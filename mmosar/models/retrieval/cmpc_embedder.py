"""CMPC coarse search module: shared siamese embedding network."""
from typing import Dict, List, Optional, Tuple, Union

import torch
from mmengine.logging import print_log
from mmengine.model import BaseModel
from mmengine.optim import OptimWrapper, OptimWrapperDict
from mmpretrain.structures import DataSample

from mmosar.registry import MODELS

from .cmpc_converter import load_cmpc_weights


@MODELS.register_module()
class CMPCEmbedder(BaseModel):
    """Siamese SAR/optical patch embedder of CMPC (coarse search module).

    One backbone and one head are shared by both modalities (``specify_num =
    0`` in the released code). Training batches hold pairs: ``inputs`` is
    ``[sar_images, optical_images]`` (each (N, 3, H, W)) and every data
    sample's ``gt_label`` is the index of the location, shared by the SAR
    query and its optical reference. The loss is the cross-modal triplet
    loss, plus, when ``critic`` is set, ``adversarial_weight`` times the
    Wasserstein generator loss. The critic is trained inside
    :meth:`train_step` for ``critic_steps`` steps per iteration on the
    detached embeddings of the same batch, with its own optimizer.

    Joint batch (``joint_batch=True``, as the paper and the release): the
    optical and SAR images of a training batch go through the backbone and
    the head as one batch ``[optical ; SAR]``, so in train mode every
    BatchNorm (backbone and projector) normalises with the statistics of
    both modalities together. ``joint_batch=False`` embeds each modality in
    its own forward, which gives each modality its own batch statistics and
    removes the modality gap from the BatchNorm outputs in training but not
    in eval (running statistics are shared).

    Pretrained weights: ``pretrained`` is a list of loads done by
    :meth:`init_weights` after the random initialisation, each strict
    (:func:`load_cmpc_weights`): ``dict(checkpoint=..., module='backbone',
    prefix='', allowed_missing=(), allowed_unexpected=())``. ``module`` is
    the attribute to load into (``''``: the whole embedder); released CMPC
    checkpoints are converted on the fly (use ``prefix='embedder.'``).

    Optimizers: with a critic, ``optim_wrapper`` must be an
    :class:`OptimWrapperDict` with keys ``'embedder'`` (backbone and head)
    and ``'critic'``, e.g. built by ``SubmoduleOptimWrapperConstructor``.
    Without a critic a plain :class:`OptimWrapper` is accepted.

    Args:
        backbone (dict): Backbone config, e.g. mmdet's ``ResNet`` with
            ``strides=(1, 2, 2, 1)`` (last stride 1) and ``out_indices=(3,)``.
        head (dict): ``CrossModalEmbeddingHead`` config.
        critic (dict, optional): ``ModalityWassersteinCritic`` config; None
            disables the adversarial alignment. Defaults to None.
        adversarial_weight (float): Weight of the generator loss (lambda).
            Defaults to 0.01.
        critic_steps (int): Critic updates per iteration. Defaults to 5.
        joint_batch (bool): Embed both modalities in one batch. Defaults to
            True.
        pretrained (list[dict], optional): Strict weight loads, see above.
            Defaults to None.
        data_preprocessor (dict, optional): Defaults to
            ``RetrievalDataPreprocessor`` with ImageNet statistics.
        init_cfg (dict, optional): Defaults to None.
    """

    def __init__(self,
                 backbone: dict,
                 head: dict,
                 critic: Optional[dict] = None,
                 adversarial_weight: float = 0.01,
                 critic_steps: int = 5,
                 joint_batch: bool = True,
                 pretrained: Optional[List[dict]] = None,
                 data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[dict] = None) -> None:
        if data_preprocessor is None:
            data_preprocessor = dict(
                type='RetrievalDataPreprocessor',
                mean=[123.675, 116.28, 103.53],
                std=[58.395, 57.12, 57.375],
                bgr_to_rgb=True)
        super().__init__(
            data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        self.backbone = MODELS.build(backbone)
        self.head = MODELS.build(head)
        self.critic = MODELS.build(critic) if critic is not None else None
        self.adversarial_weight = adversarial_weight
        self.critic_steps = critic_steps
        self.joint_batch = joint_batch
        self.pretrained = [dict(p) for p in pretrained or []]
        for load in self.pretrained:
            if 'checkpoint' not in load:
                raise ValueError(f'pretrained entry {load} has no checkpoint')

    def init_weights(self) -> None:
        """Random initialisation, then the strict ``pretrained`` loads."""
        super().init_weights()
        for load in self.pretrained:
            load = dict(load)
            name = load.pop('module', '')
            module = self.get_submodule(name) if name else self
            result = load_cmpc_weights(module, **load)
            print_log(
                f'CMPCEmbedder: loaded {load["checkpoint"]} into '
                f'{name or "the embedder"} strictly; allowed missing '
                f'{result["missing"]}, allowed unexpected '
                f'{result["unexpected"]}',
                logger='current')

    def extract_feat(
            self, inputs: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """Retrieval features (N, C) and projected embeddings (N, D)."""
        return self.head(self.backbone(inputs))

    @staticmethod
    def _pair_inputs(
        inputs: Union[List[torch.Tensor], torch.Tensor]
    ) -> Tuple[torch.Tensor, torch.Tensor]:
        if not (isinstance(inputs, (list, tuple)) and len(inputs) == 2):
            raise TypeError(
                'training needs paired inputs [sar_images, optical_images]; '
                "use a retrieval dataset with mode='pair'")
        return inputs[0], inputs[1]

    @staticmethod
    def _labels(data_samples: List[DataSample]) -> torch.Tensor:
        return torch.cat([sample.gt_label for sample in data_samples])

    def forward(self,
                inputs: Union[torch.Tensor, List[torch.Tensor]],
                data_samples: Optional[List[DataSample]] = None,
                mode: str = 'tensor'):
        """``tensor``: retrieval features; ``loss``; ``predict``."""
        if mode == 'tensor':
            return self.extract_feat(inputs)[0]
        if mode == 'loss':
            return self.loss(inputs, data_samples)
        if mode == 'predict':
            return self.predict(inputs, data_samples)
        raise RuntimeError(f'Invalid mode "{mode}".')

    def embed_modalities(self, sar: torch.Tensor, opt: torch.Tensor
                         ) -> Tuple[torch.Tensor, torch.Tensor,
                                    torch.Tensor, torch.Tensor]:
        """Embed SAR (N, 3, H, W) and optical (M, 3, H, W) images.

        With ``joint_batch`` the batch is ``[optical ; SAR]`` (released
        order) and the outputs are split back.

        Returns:
            tuple[Tensor]: SAR features (N, C), SAR embeddings (N, D),
            optical features (M, C), optical embeddings (M, D), all
            L2-normalised.
        """
        if not self.joint_batch:
            return (*self.extract_feat(sar), *self.extract_feat(opt))
        feats, vecs = self.extract_feat(torch.cat([opt, sar]))
        sizes = [len(opt), len(sar)]
        opt_feat, sar_feat = feats.split(sizes)
        opt_vec, sar_vec = vecs.split(sizes)
        return sar_feat, sar_vec, opt_feat, opt_vec

    def _embed_pairs(self, inputs, data_samples):
        sar, opt = self._pair_inputs(inputs)
        labels = self._labels(data_samples).to(sar.device)
        _, sar_vec, _, opt_vec = self.embed_modalities(sar, opt)
        return sar_vec, opt_vec, labels

    def _adversarial_loss(self, opt_vec: torch.Tensor) -> torch.Tensor:
        # The critic is frozen here: its gradients come only from its own
        # steps, never from the embedder's objective.
        self.critic.requires_grad_(False)
        try:
            return self.adversarial_weight * self.critic.generator_loss(
                opt_vec)
        finally:
            self.critic.requires_grad_(True)

    def loss(self, inputs: List[torch.Tensor],
             data_samples: List[DataSample]) -> Dict[str, torch.Tensor]:
        """Losses of the embedding network (critic kept fixed).

        Args:
            inputs (list[Tensor]): ``[sar, optical]``, each (N, 3, H, W).
            data_samples (list[DataSample]): ``gt_label`` = location index.

        Returns:
            dict[str, Tensor]: ``loss_triplet`` and, with a critic,
            ``loss_adv``.
        """
        sar_vec, opt_vec, labels = self._embed_pairs(inputs, data_samples)
        losses = self.head.loss(sar_vec, opt_vec, labels, labels)
        if self.critic is not None:
            losses['loss_adv'] = self._adversarial_loss(opt_vec)
        return losses

    def _train_critic(self, sar_vec: torch.Tensor, opt_vec: torch.Tensor,
                      critic_wrapper: OptimWrapper) -> Dict[str, torch.Tensor]:
        for _ in range(self.critic_steps):
            with critic_wrapper.optim_context(self.critic):
                critic_loss = self.critic.critic_loss(sar_vec, opt_vec)
            critic_wrapper.update_params(critic_loss)
            self.critic.clip_weights()
        # -critic_loss estimates the Wasserstein distance SAR <-> optical.
        return dict(critic_wdist=-critic_loss.detach())

    def train_step(self, data: Union[dict, tuple, list],
                   optim_wrapper: Union[OptimWrapper, OptimWrapperDict]
                   ) -> Dict[str, torch.Tensor]:
        """One iteration: critic steps, then one embedder step.

        Args:
            data (dict): A batch from the dataloader.
            optim_wrapper (OptimWrapper | OptimWrapperDict): See the class
                docstring.

        Returns:
            dict[str, Tensor]: Log variables.
        """
        if isinstance(optim_wrapper, OptimWrapperDict):
            embedder_wrapper = optim_wrapper['embedder']
        elif self.critic is not None:
            raise TypeError(
                'CMPCEmbedder with a critic needs an OptimWrapperDict with '
                "keys 'embedder' and 'critic' (two optimizers)")
        else:
            embedder_wrapper = optim_wrapper
        data = self.data_preprocessor(data, True)
        with embedder_wrapper.optim_context(self):
            sar_vec, opt_vec, labels = self._embed_pairs(
                data['inputs'], data['data_samples'])
            losses = self.head.loss(sar_vec, opt_vec, labels, labels)
        if self.critic is not None:
            losses.update(
                self._train_critic(sar_vec.detach(), opt_vec.detach(),
                                   optim_wrapper['critic']))
            with embedder_wrapper.optim_context(self):
                losses['loss_adv'] = self._adversarial_loss(opt_vec)
        parsed_loss, log_vars = self.parse_losses(losses)
        embedder_wrapper.update_params(parsed_loss)
        return log_vars

    def predict(self,
                inputs: torch.Tensor,
                data_samples: Optional[List[DataSample]] = None
                ) -> List[DataSample]:
        """Retrieval features of single images.

        Args:
            inputs (Tensor): Images, shape (N, 3, H, W).
            data_samples (list[DataSample], optional): Their meta data
                (role, indices, positions) is kept.

        Returns:
            list[DataSample]: With ``pred_feature`` (C,), L2-normalised.
        """
        feats = self.extract_feat(inputs)[0]
        if data_samples is None:
            data_samples = [DataSample() for _ in range(len(feats))]
        for sample, feat in zip(data_samples, feats):
            sample.set_field(feat, 'pred_feature')
        return data_samples
