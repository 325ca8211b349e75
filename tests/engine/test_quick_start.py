"""quick_start.py: a stylisation with the default optimiser never imports torch._dynamo (2-3 s
of a 2-core CPU before the first step, which a dialog's preview would wait for)."""
import subprocess
import sys

CODE = """
import sys
import torch
from PIL import Image
from engine_helpers import smooth_image, noise_image, tiny_vgg
from nst_engine import transfer
from nst_engine.transfer import reuse
from nst_contract.requests import StylizeRequest

reuse.load_features = lambda model, weights, pooling: (tiny_vgg(), "tiny-random")
smooth_image(64, 48).save(sys.argv[1] + "/c.png")
noise_image(48, 48).save(sys.argv[1] + "/s.png")
torch.save({}, sys.argv[1] + "/w.pt")  # named only (the start event describes it); the tiny net runs
transfer.stylize(StylizeRequest(content=sys.argv[1] + "/c.png", styles=[sys.argv[1] + "/s.png"],
                                weights=sys.argv[1] + "/w.pt", iterations=2, device="cpu",
                                precision="fp32", layout="contiguous"))
print("dynamo imported" if "torch._dynamo" in sys.modules else "no dynamo")
"""


def test_stylize_does_not_import_dynamo(tmp_path):
    from pathlib import Path

    here = Path(__file__).resolve().parent
    out = subprocess.run([sys.executable, "-c", CODE, str(tmp_path)], capture_output=True, text=True,
                         cwd=here, env={**__import__("os").environ, "PYTHONPATH": str(here)})
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1] == "no dynamo", out.stdout


def test_marks_the_optimizer_methods():
    from nst_engine.transfer.quick_start import skip_dynamo_import

    assert skip_dynamo_import() >= 2  # add_param_group and zero_grad, at least
