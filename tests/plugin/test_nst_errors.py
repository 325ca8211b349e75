"""nst_errors: the engine's errors as the GIMP user reads them, headed by the task."""
import nst_errors


def test_engine_error_text():
    e = nst_errors.EngineError("bad_input", "style image 'x.jpg' does not exist: check the path",
                               returncode=2, stderr_tail="line1\nline2")
    s = str(e)
    assert s.startswith("The style transfer engine rejected the input: style image 'x.jpg'")
    assert "exit status 2" in s and s.endswith("line1\nline2")
    w = str(nst_errors.EngineError("weights_missing", "no weights", returncode=3))
    assert "install.py" in w
    full = str(nst_errors.EngineError("disk_full", "the disk holding '/tmp/x' is full", returncode=5))
    assert full.startswith("There is not enough free disk space to save the result: the disk holding")
    assert "exit status 5" in full


def test_engine_error_text_names_the_task():
    e = nst_errors.EngineError("bad_input", "no usable images found in '/p'", returncode=2,
                               task=nst_errors.VISUALIZE_TASK)
    assert str(e).startswith("The network visualization engine rejected the input: no usable")
    assert "exit status 2" in str(e)
    m = str(nst_errors.EngineError("out_of_memory", "too big", task=nst_errors.VISUALIZE_TASK))
    assert m.startswith("The network visualization does not fit in this computer's memory")
    assert str(nst_errors.EngineError("out_of_memory", "x")).startswith(
        "The image is too large for this computer")
