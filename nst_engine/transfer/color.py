"""Colour control (Gatys et al. 2017, "Controlling Perceptual Factors in Neural Style Transfer").

- luminance: transfer on luminance only (style luminance matched to the content's
  mean and spread), then put the content's chroma back;
- histogram: recolour the style image so its colour mean and covariance equal the
  content's, then transfer as usual.
"""
from __future__ import annotations

import torch

# ITU-R BT.601 YIQ; the transform is linear, so chroma (I, Q) comes back unchanged.
_RGB_TO_YIQ = torch.tensor([[0.299, 0.587, 0.114],
                            [0.595716, -0.274453, -0.321263],
                            [0.211456, -0.522591, 0.311135]])
_YIQ_TO_RGB = torch.linalg.inv(_RGB_TO_YIQ)


def _apply(matrix: torch.Tensor, image: torch.Tensor) -> torch.Tensor:
    return torch.einsum("ij,njhw->nihw", matrix.to(image), image)


def luminance(image: torch.Tensor) -> torch.Tensor:
    """(N, 3, H, W) RGB → (N, 1, H, W) luma."""
    return _apply(_RGB_TO_YIQ, image)[:, :1]


def as_gray_rgb(lum: torch.Tensor) -> torch.Tensor:
    return lum.expand(-1, 3, -1, -1).contiguous()


def match_luminance(style: torch.Tensor, content: torch.Tensor) -> torch.Tensor:
    """Style luma shifted and scaled to the content luma's mean and standard deviation, as gray RGB."""
    ys, yc = luminance(style), luminance(content)
    matched = (ys - ys.mean()) / ys.std().clamp_min(1e-6) * yc.std() + yc.mean()
    return as_gray_rgb(matched.clamp(0, 1))


def recombine(result_gray: torch.Tensor, content: torch.Tensor) -> torch.Tensor:
    """Luma of the (gray) result with the content's chroma."""
    yiq = _apply(_RGB_TO_YIQ, content)
    yiq = torch.cat([luminance(result_gray), yiq[:, 1:]], dim=1)
    return _apply(_YIQ_TO_RGB, yiq).clamp(0, 1)


def _sqrtm(cov: torch.Tensor, inverse: bool = False) -> torch.Tensor:
    vals, vecs = torch.linalg.eigh(cov)
    vals = vals.clamp_min(1e-8)
    power = -0.5 if inverse else 0.5
    return vecs @ torch.diag(vals.pow(power)) @ vecs.T


def match_histogram(style: torch.Tensor, content: torch.Tensor) -> torch.Tensor:
    """Affine recolouring x' = A (x − μ_s) + μ_c with A = Σ_c^½ Σ_s^−½ (mean and covariance match)."""
    def stats(img):
        flat = img[0].reshape(3, -1).double()
        mu = flat.mean(dim=1, keepdim=True)
        centred = flat - mu
        return flat, mu, centred @ centred.T / flat.shape[1] + 1e-6 * torch.eye(3, dtype=flat.dtype)

    flat_s, mu_s, cov_s = stats(style)
    _, mu_c, cov_c = stats(content)
    a = _sqrtm(cov_c) @ _sqrtm(cov_s, inverse=True)
    out = a @ (flat_s - mu_s) + mu_c
    return out.reshape(style.shape).to(style.dtype).clamp(0, 1)
