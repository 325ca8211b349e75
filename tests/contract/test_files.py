"""nst_contract.files: what a weights file's first bytes say it is (the engine and installer both ask)."""
import pickle

from nst_contract.files import head_problem, is_torch_save


def test_head_problem_names_empty_and_text_files_and_leaves_binary_to_torch(tmp_path):
    empty, text, zipped, pickled, binary = (tmp_path / n for n in ("e", "t", "z", "p", "b"))
    empty.write_bytes(b"")
    text.write_text("hello, these are not weights\n")
    zipped.write_bytes(b"PK\x03\x04" + b"archive/data.pkl" + bytes(range(40)))
    pickled.write_bytes(pickle.dumps({"a": 1}, protocol=2))
    binary.write_bytes(bytes([0xff, 0xfe, 0x00, 0x81]) * 10)
    assert head_problem(empty) == "is empty (0 bytes)"
    assert head_problem(text).startswith("is a text file (it starts with 'hello, these")
    assert head_problem(tmp_path / "missing").startswith("cannot be opened")
    assert [head_problem(p) for p in (zipped, pickled, binary)] == [None, None, None]
    assert [is_torch_save(p) for p in (zipped, pickled, binary)] == [True, True, False]
