"""The objective's maths against direct numpy computations."""
import numpy as np
import pytest
import torch

from nst_engine.transfer import color
from nst_engine.transfer.losses import carry_mask, gram, relative_sq_error, tv_loss

from engine_helpers import tiny_vgg


def test_gram_matches_numpy():
    rng = np.random.default_rng(1)
    f = rng.standard_normal((1, 5, 7, 6)).astype(np.float32)
    flat = f[0].reshape(5, -1).astype(np.float64)
    expected = np.einsum("ip,jp->ij", flat, flat) / flat.shape[1]
    np.testing.assert_allclose(gram(torch.from_numpy(f)).numpy(), expected, rtol=1e-5, atol=1e-6)


def test_masked_gram_is_region_statistics():
    rng = np.random.default_rng(2)
    f = rng.standard_normal((1, 4, 8, 8)).astype(np.float32)
    m = (rng.random((1, 1, 8, 8)) > 0.5).astype(np.float32)
    inside = f[0][:, m[0, 0] > 0]  # C × n positions inside the region
    expected = inside @ inside.T / inside.shape[1]
    np.testing.assert_allclose(gram(torch.from_numpy(f), torch.from_numpy(m)).numpy(), expected, rtol=1e-5)
    # soft mask: positions weighted by m, divided by Σm
    soft = rng.random((1, 1, 8, 8)).astype(np.float32)
    flat = f[0].reshape(4, -1).astype(np.float64)
    w = soft.reshape(-1).astype(np.float64)
    expected = (flat * w) @ flat.T / w.sum()
    np.testing.assert_allclose(gram(torch.from_numpy(f), torch.from_numpy(soft)).numpy(), expected, rtol=1e-5)


def test_small_region_has_same_statistics_as_large_one():
    """A texture's masked Gram doesn't depend on how much of the image the region covers."""
    rng = np.random.default_rng(3)
    tile = rng.standard_normal((1, 3, 4, 4)).astype(np.float32)
    f = torch.from_numpy(np.tile(tile, (1, 1, 8, 8)))  # 32 × 32 periodic texture
    small = torch.zeros(1, 1, 32, 32)
    small[..., :8, :8] = 1
    large = torch.zeros(1, 1, 32, 32)
    large[..., :24, :16] = 1
    torch.testing.assert_close(gram(f, small), gram(f, large), rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(gram(f, large), gram(f), rtol=1e-5, atol=1e-6)


def test_relative_error_and_tv():
    a = torch.tensor([3.0, 4.0])
    assert relative_sq_error(a, a) == 0
    assert relative_sq_error(torch.zeros(2), a).item() == pytest.approx(1.0)
    assert relative_sq_error(2 * a, a).item() == pytest.approx(1.0)  # scale-free
    img = torch.zeros(1, 3, 4, 4)
    assert tv_loss(img) == 0
    img[..., :, 2:] = 1.0  # one vertical edge: 1 of 3 horizontal differences per row is 1
    assert tv_loss(img).item() == pytest.approx(1 / 3)


def test_mask_is_carried_down_to_every_layer_shape():
    net = tiny_vgg()
    image = torch.rand(1, 3, 50, 70)
    feats = net(image, net.names)
    mask = torch.zeros(1, 1, 50, 70)
    mask[..., :, :35] = 1  # left half
    masks = carry_mask(mask, net.geometry(net.names[-1]))
    for name in net.names:
        assert masks[name].shape[-2:] == feats[name].shape[-2:], name
        assert 0 <= masks[name].min() and masks[name].max() <= 1
    # The left half stays (about) the left half at every depth.
    deep = masks["relu4_1"][0, 0]
    assert deep[:, : deep.shape[1] // 2 - 1].min() == 1 and deep[:, deep.shape[1] // 2 + 1:].max() == 0


def test_luminance_recombine_keeps_content_chroma():
    content = torch.rand(1, 3, 8, 8) * 0.5 + 0.25
    gray = color.as_gray_rgb(color.luminance(content))
    torch.testing.assert_close(color.recombine(gray, content), content, atol=1e-5, rtol=0)


def test_histogram_matching_moves_style_to_content_statistics():
    torch.manual_seed(0)
    content = torch.rand(1, 3, 32, 32) * torch.tensor([0.3, 0.2, 0.1]).view(1, 3, 1, 1) + 0.3
    style = torch.rand(1, 3, 40, 24) * 0.4 + torch.tensor([0.5, 0.1, 0.3]).view(1, 3, 1, 1)
    matched = color.match_histogram(style, content)

    def stats(img):
        flat = img[0].reshape(3, -1).double()
        return flat.mean(1), torch.cov(flat, correction=0)

    mu_m, cov_m = stats(matched)
    mu_c, cov_c = stats(content)
    torch.testing.assert_close(mu_m, mu_c, atol=1e-4, rtol=0)
    torch.testing.assert_close(cov_m, cov_c, atol=1e-4, rtol=0)


def test_match_luminance_gives_gray_with_content_mean_and_spread():
    content, style = torch.rand(1, 3, 16, 16) * 0.5, torch.rand(1, 3, 16, 16) * 0.2 + 0.7
    out = color.match_luminance(style, content)
    assert torch.equal(out[:, 0], out[:, 1]) and torch.equal(out[:, 1], out[:, 2])
    yc = color.luminance(content)
    assert out[:, :1].mean().item() == pytest.approx(yc.mean().item(), abs=1e-3)
    assert out[:, :1].std().item() == pytest.approx(yc.std().item(), rel=1e-2)


@pytest.mark.parametrize("masked", [False, True])
def test_gram_gradient_is_exact(masked):
    """The Gram's own one-product backward against numerical differentiation and autograd's."""
    torch.manual_seed(0)
    f = torch.randn(1, 4, 5, 6, dtype=torch.float64, requires_grad=True)
    m = torch.rand(1, 1, 5, 6, dtype=torch.float64) if masked else None
    weight = torch.randn(4, 4, dtype=torch.float64)  # a non-symmetric upstream gradient
    assert torch.autograd.gradcheck(lambda x: (gram(x, m) * weight).sum(), (f,))
    (gram(f, m) * weight).sum().backward()
    flat = f.detach().reshape(4, -1).requires_grad_(True)
    w = torch.ones(1, 30, dtype=torch.float64) if m is None else m.reshape(1, -1)
    ((flat * w) @ flat.T / w.sum() * weight).sum().backward()
    torch.testing.assert_close(f.grad.reshape(4, -1), flat.grad)
