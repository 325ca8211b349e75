"""neural-style-transfer.py, the GIMP file, read as text (GIMP runs it; tests/gimp run it in GIMP):
its procedures' fixed names, menus and arguments, and no torch in GIMP's process."""
import os

from plugin_helpers import PLUGIN_DIR


def test_plugin_file_declares_the_fixed_names():
    src = (PLUGIN_DIR / "neural-style-transfer.py").read_text()
    compile(src, "neural-style-transfer.py", "exec")
    assert src.startswith("#!/usr/bin/env python3")
    assert os.access(PLUGIN_DIR / "neural-style-transfer.py", os.X_OK)
    assert 'PROC_NAME = "plug-in-neural-style-transfer"' in src
    assert '"<Image>/Filters/Artistic"' in src and '"_Neural Style Transfer..."' in src
    for arg in ("style-file", "style-layer", "strength", "preset", "size", "preserve-color",
                "region", "seed", "iterations", "style-source"):
        assert f'"{arg}", ' in src, arg
    # nothing torch-like in the GIMP process
    assert "import torch" not in src and "import nst_engine" not in src


def test_plugin_file_declares_the_visualize_procedure():
    src = (PLUGIN_DIR / "neural-style-transfer.py").read_text()
    assert 'VIS_PROC_NAME = "plug-in-neural-style-visualize"' in src
    assert "return [PROC_NAME, VIS_PROC_NAME]" in src
    assert '"<Image>/Filters/Artistic/Neural Style"' in src
    assert '"_Visualize Network Units..."' in src
    for arg in ("folder", "layers", "units", "top", "size", "cell", "gradients"):
        assert f'"{arg}", ' in src, arg
