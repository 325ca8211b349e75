"""Engine test fixtures (builders live in engine_helpers.py)."""
import pytest

from engine_helpers import smooth_image, noise_image, tiny_vgg
from nst_engine.transfer import reuse  # where stylize() loads the network


@pytest.fixture
def tiny_network(monkeypatch):
    """Make stylize() use the tiny network (engine_helpers.tiny_vgg()) instead of loading pretrained weights."""
    monkeypatch.setattr(reuse, "load_features", lambda model, weights, pooling: (tiny_vgg(), "tiny-random"))


@pytest.fixture
def images(tmp_path):
    """Paths of a content image and a style image on disk."""
    content = tmp_path / "content.png"
    style = tmp_path / "style.png"
    smooth_image(80, 64).save(content)
    noise_image(64, 64, seed=3).save(style)
    return content, style
