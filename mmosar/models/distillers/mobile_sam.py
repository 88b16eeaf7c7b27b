"""MobileSAM (TinyViT ``vit_t`` image encoder + SAM mask decoder) as the
frozen external model of IFKD's EDE.

Written from the published architecture (TinyViT-5M adapted by MobileSAM,
SAM's prompt encoder / two-way transformer / mask decoder). Parameter names
follow ``mobile_sam.pt`` so its state dict loads directly; parts of that file
unused without prompts (point embeddings, mask downscaling, TinyViT's
classification head) are ignored.

Use without prompts, as IFKD's released code does: the sparse prompt set is
empty, the dense prompt is the learned "no mask" embedding, and the first
(single-mask) output is taken.

Approximations (documented): the input is the detector's normalised batch
(ImageNet mean/std, identical to SAM's) resized on the float tensor
(bilinear) so its longest side is ``img_size``, instead of SAM's uint8 PIL
resize; the low-resolution logits are returned (no upsampling to the input
size; the EDE resizes them to each FPN level anyway).
"""
import itertools
import math
from typing import Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from mmosar.registry import MODELS

from .ede import load_external_weights


class LayerNorm2d(nn.Module):
    """LayerNorm over the channel axis of a ``(B, C, H, W)`` map."""

    def __init__(self, channels: int, eps: float = 1e-6) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))
        self.eps = eps

    def forward(self, x: Tensor) -> Tensor:
        mean = x.mean(1, keepdim=True)
        var = (x - mean).pow(2).mean(1, keepdim=True)
        x = (x - mean) / torch.sqrt(var + self.eps)
        return self.weight[:, None, None] * x + self.bias[:, None, None]


class ConvBN(nn.Sequential):
    """Bias-free conv (``c``) followed by BatchNorm (``bn``)."""

    def __init__(self, cin: int, cout: int, kernel: int = 1, stride: int = 1,
                 padding: int = 0, groups: int = 1) -> None:
        super().__init__()
        self.add_module(
            'c', nn.Conv2d(cin, cout, kernel, stride, padding, groups=groups,
                           bias=False))
        self.add_module('bn', nn.BatchNorm2d(cout))


class PatchEmbed(nn.Module):
    """Two stride-2 3x3 ConvBN with GELU: image -> (B, C, H/4, W/4)."""

    def __init__(self, in_chans: int, dim: int) -> None:
        super().__init__()
        self.seq = nn.Sequential(
            ConvBN(in_chans, dim // 2, 3, 2, 1), nn.GELU(),
            ConvBN(dim // 2, dim, 3, 2, 1))

    def forward(self, x: Tensor) -> Tensor:
        return self.seq(x)


class MBConv(nn.Module):
    """Inverted residual: 1x1 expand, 3x3 depthwise, 1x1 project, GELU."""

    def __init__(self, dim: int, expand_ratio: float) -> None:
        super().__init__()
        hidden = int(dim * expand_ratio)
        self.conv1 = ConvBN(dim, hidden)
        self.conv2 = ConvBN(hidden, hidden, 3, 1, 1, groups=hidden)
        self.conv3 = ConvBN(hidden, dim)
        self.act = nn.GELU()

    def forward(self, x: Tensor) -> Tensor:
        y = self.act(self.conv2(self.act(self.conv1(x))))
        return self.act(self.conv3(y) + x)


class PatchMerging(nn.Module):
    """1x1 ConvBN, depthwise 3x3 ConvBN (stride 2, or 1 when ``out_dim`` is
    320/448/576 as in MobileSAM), 1x1 ConvBN; tokens ``(B, L, C)`` out."""

    def __init__(self, resolution: int, dim: int, out_dim: int) -> None:
        super().__init__()
        self.resolution = resolution
        stride = 1 if out_dim in (320, 448, 576) else 2
        self.conv1 = ConvBN(dim, out_dim)
        self.conv2 = ConvBN(out_dim, out_dim, 3, stride, 1, groups=out_dim)
        self.conv3 = ConvBN(out_dim, out_dim)
        self.act = nn.GELU()

    def forward(self, x: Tensor) -> Tensor:
        if x.dim() == 3:
            b, _, c = x.shape
            x = x.transpose(1, 2).reshape(b, c, self.resolution,
                                          self.resolution)
        x = self.conv3(self.act(self.conv2(self.act(self.conv1(x)))))
        return x.flatten(2).transpose(1, 2)


class TinyViTAttention(nn.Module):
    """Window multi-head attention with a learned bias per relative offset."""

    def __init__(self, dim: int, num_heads: int, window: int) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.key_dim = dim // num_heads
        self.scale = self.key_dim**-0.5
        self.norm = nn.LayerNorm(dim)
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        points = list(itertools.product(range(window), range(window)))
        offsets, idxs = {}, []
        for p1 in points:
            for p2 in points:
                off = (abs(p1[0] - p2[0]), abs(p1[1] - p2[1]))
                idxs.append(offsets.setdefault(off, len(offsets)))
        self.attention_biases = nn.Parameter(
            torch.zeros(num_heads, len(offsets)))
        self.register_buffer(
            'attention_bias_idxs',
            torch.tensor(idxs).view(len(points), len(points)),
            persistent=False)

    def forward(self, x: Tensor) -> Tensor:
        b, n, _ = x.shape
        qkv = self.qkv(self.norm(x)).view(b, n, self.num_heads, -1)
        q, k, v = qkv.split([self.key_dim] * 3, dim=3)
        q, k, v = (t.permute(0, 2, 1, 3) for t in (q, k, v))
        attn = q @ k.transpose(-2, -1) * self.scale + \
            self.attention_biases[:, self.attention_bias_idxs]
        x = attn.softmax(-1) @ v
        return self.proj(x.transpose(1, 2).reshape(b, n, -1))


class TinyViTMlp(nn.Module):
    """Pre-norm MLP (``norm``, ``fc1``, GELU, ``fc2``)."""

    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(dim)
        self.fc1 = nn.Linear(dim, hidden)
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc2(F.gelu(self.fc1(self.norm(x))))


class TinyViTBlock(nn.Module):
    """Window attention, depthwise 3x3 ``local_conv``, MLP; on tokens."""

    def __init__(self, dim: int, resolution: int, num_heads: int,
                 window: int, mlp_ratio: float) -> None:
        super().__init__()
        self.resolution = resolution
        self.window = window
        self.attn = TinyViTAttention(dim, num_heads, window)
        self.local_conv = ConvBN(dim, dim, 3, 1, 1, groups=dim)
        self.mlp = TinyViTMlp(dim, int(dim * mlp_ratio))

    def _window_attention(self, x: Tensor) -> Tensor:
        b, _, c = x.shape
        res, ws = self.resolution, self.window
        if res == ws:
            return self.attn(x)
        x = x.view(b, res, res, c)
        pad = (ws - res % ws) % ws
        x = F.pad(x, (0, 0, 0, pad, 0, pad))
        n = (res + pad) // ws
        x = x.view(b, n, ws, n, ws, c).transpose(2, 3).reshape(
            b * n * n, ws * ws, c)
        x = self.attn(x).view(b, n, n, ws, ws, c).transpose(2, 3).reshape(
            b, n * ws, n * ws, c)
        return x[:, :res, :res].reshape(b, res * res, c)

    def forward(self, x: Tensor) -> Tensor:
        b, n, c = x.shape
        x = x + self._window_attention(x)
        x = x.transpose(1, 2).reshape(b, c, self.resolution, self.resolution)
        x = self.local_conv(x).view(b, c, n).transpose(1, 2)
        return x + self.mlp(x)


class TinyViTStage(nn.Module):
    """``blocks`` then an optional ``downsample`` (PatchMerging)."""

    def __init__(self, blocks: Sequence[nn.Module],
                 downsample: Optional[nn.Module]) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(blocks)
        self.downsample = downsample

    def forward(self, x: Tensor) -> Tensor:
        for block in self.blocks:
            x = block(x)
        return x if self.downsample is None else self.downsample(x)


class TinyViTImageEncoder(nn.Module):
    """MobileSAM's TinyViT ``vit_t`` image encoder -> ``(B, 256, 64, 64)``.

    Stage 0: MBConv blocks at 1/4; stages 1-3: TinyViT blocks. Stage 3 stays
    at the resolution of stage 2 (MobileSAM's change), so a 1024 input gives
    a 64x64 embedding; a LayerNorm2d neck maps to 256 channels.
    """

    def __init__(self,
                 img_size: int = 1024,
                 embed_dims: Sequence[int] = (64, 128, 160, 320),
                 depths: Sequence[int] = (2, 2, 6, 2),
                 num_heads: Sequence[int] = (2, 4, 5, 10),
                 window_sizes: Sequence[int] = (7, 7, 14, 7),
                 mlp_ratio: float = 4.0,
                 out_chans: int = 256) -> None:
        super().__init__()
        self.patch_embed = PatchEmbed(3, embed_dims[0])
        base = img_size // 4
        self.layers = nn.ModuleList()
        for i, depth in enumerate(depths):
            res = base // (2**(i - 1 if i == 3 else i))
            dim = embed_dims[i]
            down = PatchMerging(res, dim, embed_dims[i + 1]) \
                if i < len(depths) - 1 else None
            if i == 0:
                blocks = [MBConv(dim, 4.0) for _ in range(depth)]
            else:
                blocks = [
                    TinyViTBlock(dim, res, num_heads[i], window_sizes[i],
                                 mlp_ratio) for _ in range(depth)
                ]
            self.layers.append(TinyViTStage(blocks, down))
        self.embed_size = base // 4
        self.neck = nn.Sequential(
            nn.Conv2d(embed_dims[-1], out_chans, 1, bias=False),
            LayerNorm2d(out_chans),
            nn.Conv2d(out_chans, out_chans, 3, padding=1, bias=False),
            LayerNorm2d(out_chans))

    def forward(self, x: Tensor) -> Tensor:
        x = self.patch_embed(x)
        for layer in self.layers:
            x = layer(x)
        b, _, c = x.shape
        x = x.view(b, self.embed_size, self.embed_size, c).permute(0, 3, 1, 2)
        return self.neck(x)


class RandomPositionEncoding(nn.Module):
    """SAM's Fourier positional encoding with a fixed Gaussian matrix."""

    def __init__(self, num_feats: int = 128) -> None:
        super().__init__()
        self.register_buffer('positional_encoding_gaussian_matrix',
                             torch.randn(2, num_feats))

    def forward(self, size: Tuple[int, int]) -> Tensor:
        """Dense encoding ``(2 * num_feats, h, w)`` of an ``h x w`` grid."""
        h, w = size
        device = self.positional_encoding_gaussian_matrix.device
        y = (torch.arange(h, device=device) + 0.5) / h
        x = (torch.arange(w, device=device) + 0.5) / w
        coords = torch.stack(torch.meshgrid(x, y, indexing='xy'), dim=-1)
        coords = (2 * coords - 1) @ self.positional_encoding_gaussian_matrix
        coords = 2 * math.pi * coords
        return torch.cat([coords.sin(), coords.cos()], dim=-1).permute(
            2, 0, 1)


class PromptFreeEncoder(nn.Module):
    """The parts of SAM's prompt encoder used without prompts."""

    def __init__(self, embed_dim: int = 256) -> None:
        super().__init__()
        self.pe_layer = RandomPositionEncoding(embed_dim // 2)
        self.no_mask_embed = nn.Embedding(1, embed_dim)


class SAMAttention(nn.Module):
    """Multi-head attention with an optional inner-dimension reduction."""

    def __init__(self, dim: int, num_heads: int, downsample: int = 1) -> None:
        super().__init__()
        inner = dim // downsample
        self.num_heads = num_heads
        self.q_proj = nn.Linear(dim, inner)
        self.k_proj = nn.Linear(dim, inner)
        self.v_proj = nn.Linear(dim, inner)
        self.out_proj = nn.Linear(inner, dim)

    def _heads(self, x: Tensor) -> Tensor:
        b, n, c = x.shape
        return x.view(b, n, self.num_heads, c // self.num_heads).transpose(
            1, 2)

    def forward(self, q: Tensor, k: Tensor, v: Tensor) -> Tensor:
        q = self._heads(self.q_proj(q))
        k = self._heads(self.k_proj(k))
        v = self._heads(self.v_proj(v))
        attn = (q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])).softmax(-1)
        out = (attn @ v).transpose(1, 2).flatten(2)
        return self.out_proj(out)


class SAMMlp(nn.Module):
    """``lin1`` -> ReLU -> ``lin2``."""

    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.lin1 = nn.Linear(dim, hidden)
        self.lin2 = nn.Linear(hidden, dim)

    def forward(self, x: Tensor) -> Tensor:
        return self.lin2(F.relu(self.lin1(x)))


class TwoWayBlock(nn.Module):
    """Token self-attention, token->image, MLP, image->token attention."""

    def __init__(self, dim: int, num_heads: int, mlp_dim: int,
                 skip_first_pe: bool) -> None:
        super().__init__()
        self.skip_first_pe = skip_first_pe
        self.self_attn = SAMAttention(dim, num_heads)
        self.cross_attn_token_to_image = SAMAttention(dim, num_heads, 2)
        self.cross_attn_image_to_token = SAMAttention(dim, num_heads, 2)
        self.mlp = SAMMlp(dim, mlp_dim)
        self.norm1, self.norm2, self.norm3, self.norm4 = (
            nn.LayerNorm(dim) for _ in range(4))

    def forward(self, queries: Tensor, keys: Tensor, query_pe: Tensor,
                key_pe: Tensor) -> Tuple[Tensor, Tensor]:
        if self.skip_first_pe:
            queries = self.self_attn(queries, queries, queries)
        else:
            q = queries + query_pe
            queries = queries + self.self_attn(q, q, queries)
        queries = self.norm1(queries)
        q, k = queries + query_pe, keys + key_pe
        queries = self.norm2(
            queries + self.cross_attn_token_to_image(q, k, keys))
        queries = self.norm3(queries + self.mlp(queries))
        q, k = queries + query_pe, keys + key_pe
        keys = self.norm4(keys + self.cross_attn_image_to_token(k, q,
                                                                queries))
        return queries, keys


class TwoWayTransformer(nn.Module):
    """SAM's two-way transformer between prompt tokens and the image."""

    def __init__(self, depth: int = 2, dim: int = 256, num_heads: int = 8,
                 mlp_dim: int = 2048) -> None:
        super().__init__()
        self.layers = nn.ModuleList(
            TwoWayBlock(dim, num_heads, mlp_dim, i == 0) for i in range(depth))
        self.final_attn_token_to_image = SAMAttention(dim, num_heads, 2)
        self.norm_final_attn = nn.LayerNorm(dim)

    def forward(self, image: Tensor, image_pe: Tensor,
                tokens: Tensor) -> Tuple[Tensor, Tensor]:
        keys = image.flatten(2).transpose(1, 2)
        key_pe = image_pe.flatten(2).transpose(1, 2)
        queries = tokens
        for layer in self.layers:
            queries, keys = layer(queries, keys, tokens, key_pe)
        attn = self.final_attn_token_to_image(queries + tokens, keys + key_pe,
                                              keys)
        return self.norm_final_attn(queries + attn), keys


class SAMMlpHead(nn.Module):
    """``num_layers`` Linear layers with ReLU between (SAM's ``MLP``)."""

    def __init__(self, cin: int, hidden: int, cout: int,
                 num_layers: int) -> None:
        super().__init__()
        dims = [cin] + [hidden] * (num_layers - 1) + [cout]
        self.layers = nn.ModuleList(
            nn.Linear(a, b) for a, b in zip(dims[:-1], dims[1:]))

    def forward(self, x: Tensor) -> Tensor:
        for i, layer in enumerate(self.layers):
            x = layer(x)
            if i < len(self.layers) - 1:
                x = F.relu(x)
        return x


class MaskDecoder(nn.Module):
    """SAM mask decoder: image embedding + tokens -> mask logits (x4)."""

    def __init__(self, dim: int = 256, num_multimask: int = 3) -> None:
        super().__init__()
        self.num_mask_tokens = num_multimask + 1
        self.transformer = TwoWayTransformer(dim=dim)
        self.iou_token = nn.Embedding(1, dim)
        self.mask_tokens = nn.Embedding(self.num_mask_tokens, dim)
        self.output_upscaling = nn.Sequential(
            nn.ConvTranspose2d(dim, dim // 4, 2, 2), LayerNorm2d(dim // 4),
            nn.GELU(), nn.ConvTranspose2d(dim // 4, dim // 8, 2, 2),
            nn.GELU())
        self.output_hypernetworks_mlps = nn.ModuleList(
            SAMMlpHead(dim, dim, dim // 8, 3)
            for _ in range(self.num_mask_tokens))
        self.iou_prediction_head = SAMMlpHead(dim, 256, self.num_mask_tokens,
                                              3)

    def forward(self, image: Tensor, image_pe: Tensor,
                dense: Tensor) -> Tensor:
        """Single-mask logits ``(B, 1, 4h, 4w)`` without sparse prompts."""
        b, c, h, w = image.shape
        tokens = torch.cat([self.iou_token.weight, self.mask_tokens.weight])
        tokens = tokens[None].expand(b, -1, -1)
        hs, src = self.transformer(image + dense, image_pe.expand(b, -1, -1,
                                                                  -1), tokens)
        mask_token = hs[:, 1]  # first mask token: the single-mask output
        up = self.output_upscaling(src.transpose(1, 2).reshape(b, c, h, w))
        hyper = self.output_hypernetworks_mlps[0](mask_token)  # (B, C/8)
        return torch.einsum('bc,bchw->bhw', hyper, up)[:, None]


@MODELS.register_module()
class MobileSAMMaskPredictor(nn.Module):
    """Prompt-free MobileSAM: normalised image batch -> mask logits.

    Args:
        checkpoint: Local path of ``mobile_sam.pt`` (None: random weights,
            for tests only).
        img_size: SAM input size (1024).
    """

    def __init__(self, checkpoint: Optional[str] = None,
                 img_size: int = 1024) -> None:
        super().__init__()
        self.img_size = img_size
        self.image_encoder = TinyViTImageEncoder(img_size=img_size)
        self.prompt_encoder = PromptFreeEncoder()
        self.mask_decoder = MaskDecoder()
        if checkpoint is not None:
            load_external_weights(self, checkpoint)

    def forward(self, images: Tensor) -> Tensor:
        """Mask logits over the field of view of ``images``.

        Args:
            images: ``(B, 3, H, W)`` normalised with ImageNet mean/std (RGB).

        Returns:
            ``(B, 1, h, w)`` logits, ``h/w = H/W`` up to rounding.
        """
        h, w = images.shape[-2:]
        scale = self.img_size / max(h, w)
        nh, nw = round(h * scale), round(w * scale)
        x = F.interpolate(images, size=(nh, nw), mode='bilinear',
                          align_corners=False, antialias=scale < 1)
        x = F.pad(x, (0, self.img_size - nw, 0, self.img_size - nh))
        emb = self.image_encoder(x)
        pe = self.prompt_encoder.pe_layer(emb.shape[-2:])[None]
        dense = self.prompt_encoder.no_mask_embed.weight.view(1, -1, 1, 1)
        logits = self.mask_decoder(emb, pe, dense)
        ratio = logits.shape[-1] / self.img_size
        return logits[..., :max(1, round(nh * ratio)),
                      :max(1, round(nw * ratio))]
