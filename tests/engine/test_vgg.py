"""vgg.py builds the VGG stacks itself (the engine never imports torchvision to run): they must
be torchvision's, module for module, or torchvision's state dicts would not fit."""
import subprocess
import sys

import pytest
import torch
import torchvision

from nst_engine.services.vgg import MODELS, architecture, available_layers


@pytest.mark.parametrize("model", sorted(MODELS))
def test_architecture_is_torchvisions(model):
    ours = architecture(model)
    with torch.device("meta"):
        theirs = getattr(torchvision.models, model)(weights=None).features
    assert str(ours) == str(theirs)
    assert {k: v.shape for k, v in ours.state_dict().items()} == \
           {k: v.shape for k, v in theirs.state_dict().items()}


def test_layer_names_follow_the_structure():
    names = available_layers("vgg19")
    assert names[:5] == ["conv1_1", "relu1_1", "conv1_2", "relu1_2", "pool1"]
    assert "relu5_4" in names and "relu5_4" not in available_layers("vgg16")
    assert names[-1] == "pool5"


def test_running_the_engine_does_not_import_torchvision(tmp_path):
    """torchvision's import costs seconds (its ops import torch._dynamo): the network, the
    objective and the weights' description must not need it."""
    code = ("import sys, torch\n"
            "from nst_engine import transfer\nfrom nst_engine.services import weights, vgg\n"
            "state = {f'{k}': torch.zeros(v.shape) for k, v in vgg.architecture('vgg16').state_dict().items()}\n"
            f"torch.save(state, {str(tmp_path / 'w.pt')!r})\n"
            f"net, _ = weights.load_features('vgg16', {str(tmp_path / 'w.pt')!r})\n"
            f"weights.describe('vgg16', {str(tmp_path / 'w.pt')!r})\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] == 'torchvision'))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout
