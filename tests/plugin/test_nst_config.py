"""nst_config: the plug-in reads nst-config.json once per run and reports a broken installation
with advice (ConfigError)."""
import pytest

from plugin_helpers import PLUGIN_DIR, write_config
import nst_config
import nst_errors


def test_config_missing_says_run_install(tmp_path):
    with pytest.raises(nst_errors.ConfigError) as e:
        nst_config.load_config(str(tmp_path / "nst-config.json"))
    msg = str(e.value)
    assert "nst-config.json" in msg and "install.py" in msg and "not configured" in msg


def test_config_path_next_to_plugin_and_env_override(tmp_path):
    assert nst_config.config_path({}, directory=str(tmp_path)) == str(tmp_path / "nst-config.json")
    assert nst_config.config_path({}) == str(PLUGIN_DIR / "nst-config.json")
    other = tmp_path / "x.json"
    assert nst_config.config_path({"NST_PLUGIN_CONFIG": str(other)}) == str(other)


def test_config_env_override_is_used(tmp_path, fake_python):
    p = write_config(tmp_path, {"engine_python": str(fake_python)}, "elsewhere.json")
    cfg = nst_config.load_config(environ={"NST_PLUGIN_CONFIG": str(p)})
    assert cfg.engine_python == str(fake_python) and cfg.path == str(p)


def test_config_full(tmp_path, fake_python):
    weights = tmp_path / "w.pt"
    weights.write_bytes(b"x")
    p = write_config(tmp_path, {
        "engine_python": "venv/bin/python",            # relative to the config's folder
        "engine_path": str(tmp_path),
        "weights": str(weights), "model": "vgg16", "device": "cpu", "threads": 2,
        "extra_args": ["--pooling", "avg"], "env": {"OMP_NUM_THREADS": "2"},
        "temp_dir": "tmpdir", "future_key": 1})
    cfg = nst_config.load_config(str(p))
    assert cfg.engine_python == str(fake_python)
    assert cfg.engine_path == str(tmp_path) and cfg.weights == str(weights)
    assert (cfg.model, cfg.device, cfg.threads) == ("vgg16", "cpu", 2)
    assert cfg.extra_args == ["--pooling", "avg"] and cfg.env == {"OMP_NUM_THREADS": "2"}
    assert cfg.temp_dir == str(tmp_path / "tmpdir")


@pytest.mark.parametrize("data,fragment", [
    ("{not json", "cannot be read"),
    ("[" * 100000 + "]" * 100000, "cannot be read"),  # deep enough for a RecursionError in json
    ("[1, 2]", "not a JSON object"),
    ({}, "no \"engine_python\""),
    ({"engine_python": "/nonexistent/python"}, "does not exist"),
])
def test_config_errors(tmp_path, data, fragment):
    with pytest.raises(nst_errors.ConfigError) as e:
        nst_config.load_config(str(write_config(tmp_path, data)))
    assert fragment in str(e.value) and "install.py" in str(e.value)


def test_config_weights_missing(tmp_path, fake_python):
    p = write_config(tmp_path, {"engine_python": str(fake_python), "weights": "/nope/w.pt"})
    with pytest.raises(nst_errors.ConfigError) as e:
        nst_config.load_config(str(p))
    assert "weights" in str(e.value) and "/nope/w.pt" in str(e.value)


@pytest.mark.parametrize("key,value", [("threads", "2"), ("extra_args", "--x"), ("env", {"A": 1}),
                                       ("model", 3)])
def test_config_type_errors(tmp_path, fake_python, key, value):
    p = write_config(tmp_path, {"engine_python": str(fake_python), key: value})
    with pytest.raises(nst_errors.ConfigError) as e:
        nst_config.load_config(str(p))
    assert key in str(e.value)


def test_config_visualize_extra_args(tmp_path, fake_python):
    p = write_config(tmp_path, {"engine_python": str(fake_python), "extra_args": ["--x"],
                                "visualize_extra_args": ["--backend", "torch"]})
    c = nst_config.load_config(str(p))
    assert c.extra_args == ["--x"] and c.visualize_extra_args == ["--backend", "torch"]
    bad = write_config(tmp_path, {"engine_python": str(fake_python),
                                  "visualize_extra_args": "--backend"}, "bad.json")
    with pytest.raises(nst_errors.ConfigError) as e:
        nst_config.load_config(str(bad))
    assert "visualize_extra_args" in str(e.value)
