"""numbanet.save / numbanet.load: round trips, damaged files, and pickles refused unexecuted."""

from __future__ import annotations

import hashlib
import io
import json
import math
import os
import pickle
import stat
import struct
import zipfile

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import numbanet
from numbanet.serialization import MAGIC, PREAMBLE, SerializationError


@pytest.fixture(autouse=True, scope="module")
def legacy_format():
    """These tests are about the numbanet format; numbanet.save now writes PyTorch's by default
    (tests/test_torch_checkpoints.py covers that one)."""
    legacy_save = numbanet.save
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(numbanet, "save", lambda obj, f: legacy_save(
            obj, f, _use_new_zipfile_serialization=False))
        yield


def tensor(values, dtype) -> numbanet.Tensor:
    return numbanet.from_numpy(np.asarray(values, dtype=dtype))


def checkpoint() -> dict:
    """A model state dict and an Adam-like optimizer state dict, with every supported type."""
    return {
        "model": {
            "fc1.weight": tensor(np.arange(6).reshape(2, 3) / 7, np.float32),
            "fc1.bias": tensor([0.5, -1e-30], np.float64),
            "embedding.ids": tensor([[1, -2], [2**40, 0]], np.int64),
            "mask": tensor([True, False, True], np.bool_),
            "scale": tensor(2.5, np.float32),  # 0-d
            "empty": tensor(np.zeros((0, 3)), np.float32),
        },
        "optimizer": {
            "state": {0: {"step": 3, "exp_avg": tensor([0.1, 0.2], np.float32)}},
            "param_groups": [
                {
                    "lr": 1e-3,
                    "betas": (0.9, 0.999),
                    "amsgrad": False,
                    "foreach": None,
                    "params": [0, 1],
                },
            ],  # fmt: skip
        },
        "epoch": 7,
        "losses": [2.3, float("inf"), float("nan")],
        "name": "mlp ✓",
        "big": 2**80,
    }


def assert_same(loaded, original) -> None:
    """Equal structure, Python types, tensor dtypes, shapes and values (nan equals nan)."""
    assert type(loaded) is type(original)
    if isinstance(original, numbanet.Tensor):
        assert loaded.dtype == original.dtype and loaded.shape == original.shape
        np.testing.assert_array_equal(loaded.numpy(), original.numpy())
    elif isinstance(original, dict):
        assert list(loaded) == list(original)
        for key in original:
            assert_same(loaded[key], original[key])
    elif isinstance(original, list | tuple):
        assert len(loaded) == len(original)
        for loaded_item, original_item in zip(loaded, original, strict=True):
            assert_same(loaded_item, original_item)
    elif isinstance(original, float) and math.isnan(original):
        assert math.isnan(loaded)
    else:
        assert loaded == original


def rewrite(path, header: dict | None = None, payload: bytes | None = None, version: int = 1):
    """Rewrite a saved file with a new header/payload and a *valid* checksum (a forger's file)."""
    content = path.read_bytes()
    _, _, header_length, _, _ = PREAMBLE.unpack_from(content)
    old_header = content[PREAMBLE.size : PREAMBLE.size + header_length]
    header_bytes = json.dumps(header).encode() if header else old_header
    if payload is None:
        payload = content[PREAMBLE.size + header_length :]
    digest = hashlib.sha256(header_bytes + payload).digest()
    preamble = PREAMBLE.pack(MAGIC, version, len(header_bytes), len(payload), digest)
    path.write_bytes(preamble + header_bytes + payload)


def saved_header(path) -> dict:
    content = path.read_bytes()
    _, _, header_length, _, _ = PREAMBLE.unpack_from(content)
    return json.loads(content[PREAMBLE.size : PREAMBLE.size + header_length])


# ----------------------------------------------------------------------------- round trips


def test_round_trip_of_model_and_optimizer_state(tmp_path):
    path = tmp_path / "checkpoint.pth"
    original = checkpoint()
    numbanet.save(original, path)
    assert_same(numbanet.load(path), original)
    assert_same(numbanet.load(str(path), map_location="cpu"), original)
    assert_same(numbanet.load(path, map_location=numbanet.device("cpu")), original)


def test_loaded_tensors_are_writable_copies(tmp_path):
    numbanet.save({"w": tensor([1.0, 2.0], np.float32)}, tmp_path / "w.pth")
    values = numbanet.load(tmp_path / "w.pth")["w"].numpy()
    values[0] = 5.0  # would raise if the tensor still pointed into the read-only file bytes
    assert values.flags.c_contiguous


def test_non_contiguous_tensors_are_saved_by_value(tmp_path):
    values = np.arange(12, dtype=np.float32).reshape(3, 4)
    transposed = numbanet.from_numpy(values).t()
    numbanet.save(transposed, tmp_path / "t.pth")
    np.testing.assert_array_equal(numbanet.load(tmp_path / "t.pth").numpy(), values.T)


def test_requires_grad_and_shared_tensors_survive(tmp_path):
    weight = numbanet.from_numpy(np.ones(3, np.float32)).requires_grad_()
    numbanet.save({"a": weight, "b": weight}, tmp_path / "shared.pth")
    loaded = numbanet.load(tmp_path / "shared.pth")
    assert loaded["a"] is loaded["b"] and loaded["a"].requires_grad
    assert len(saved_header(tmp_path / "shared.pth")["tensors"]) == 1


def test_file_objects_work_too():
    buffer = io.BytesIO()
    numbanet.save({"x": tensor([1, 2], np.int64)}, buffer)
    buffer.seek(0)
    assert numbanet.load(buffer)["x"].numpy().tolist() == [1, 2]


scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text()
structures = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=4)
        | st.lists(children, max_size=4).map(tuple)
        | st.dictionaries(st.text(max_size=5) | st.integers(), children, max_size=4)
    ),
    max_leaves=20,
)


@given(structures)
def test_plain_python_structures_round_trip(obj):
    buffer = io.BytesIO()
    numbanet.save(obj, buffer)
    buffer.seek(0)
    assert_same(numbanet.load(buffer), obj)


def test_save_names_where_an_unsupported_value_sits(tmp_path):
    with pytest.raises(TypeError, match=r"obj\['optimizer'\]\[1\], of type object"):
        numbanet.save({"optimizer": [1, object()]}, tmp_path / "bad.pth")
    with pytest.raises(TypeError, match="set"):
        numbanet.save({1, 2}, tmp_path / "bad.pth")


# ----------------------------------------------------------------------------- atomic writes


def test_save_replaces_atomically_and_leaves_no_temporary_files(tmp_path):
    path = tmp_path / "model.pth"
    numbanet.save({"version": 1}, path)
    numbanet.save({"version": 2}, path)
    assert os.listdir(tmp_path) == ["model.pth"]
    assert numbanet.load(path) == {"version": 2}


def test_a_failed_save_keeps_the_previous_checkpoint(tmp_path):
    path = tmp_path / "model.pth"
    numbanet.save({"version": 1}, path)
    with pytest.raises(TypeError):
        numbanet.save({"version": 2, "oops": object()}, path)
    assert numbanet.load(path) == {"version": 1} and os.listdir(tmp_path) == ["model.pth"]


def test_saving_over_a_file_keeps_its_permission_bits(tmp_path):
    path = tmp_path / "model.pth"
    numbanet.save({"version": 1}, path)
    path.chmod(0o600)
    numbanet.save({"version": 2}, path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert numbanet.load(path) == {"version": 2}


def test_a_new_file_gets_the_default_permissions(tmp_path):
    umask = os.umask(0o027)
    try:
        numbanet.save({}, tmp_path / "new.pth")
    finally:
        os.umask(umask)
    assert stat.S_IMODE((tmp_path / "new.pth").stat().st_mode) == 0o640  # 0o666 & ~0o027


def test_saving_through_a_symlink_replaces_its_target_atomically(tmp_path):
    (tmp_path / "runs").mkdir()
    (tmp_path / "links").mkdir()
    target, link = tmp_path / "runs" / "epoch3.pth", tmp_path / "links" / "latest.pth"
    numbanet.save({"epoch": 3}, target)
    target.chmod(0o640)
    link.symlink_to(os.path.relpath(target, link.parent))
    numbanet.save({"epoch": 4}, link)
    assert link.is_symlink() and link.resolve() == target
    assert numbanet.load(target) == {"epoch": 4}
    assert stat.S_IMODE(target.stat().st_mode) == 0o640
    # the temporary file was written and renamed in the target's folder: nothing is left over
    assert os.listdir(tmp_path / "runs") == ["epoch3.pth"]
    assert os.listdir(tmp_path / "links") == ["latest.pth"]


def test_saving_through_a_dangling_symlink_creates_its_target(tmp_path):
    link = tmp_path / "latest.pth"
    link.symlink_to("missing.pth")
    numbanet.save({"epoch": 1}, link)
    assert link.is_symlink() and numbanet.load(tmp_path / "missing.pth") == {"epoch": 1}


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0,
                    reason="needs POSIX permissions, which root ignores")
def test_a_read_only_file_is_not_replaced(tmp_path):
    """torch.save opens the file for writing and fails; a rename would silently succeed."""
    path = tmp_path / "frozen.pth"
    numbanet.save({"version": 1}, path)
    path.chmod(0o444)
    with pytest.raises(PermissionError):
        numbanet.save({"version": 2}, path)
    assert numbanet.load(path) == {"version": 1} and os.listdir(tmp_path) == ["frozen.pth"]


# ----------------------------------------------------------------------------- map_location


def test_map_location_must_name_a_device(tmp_path):
    numbanet.save({}, tmp_path / "empty.pth")
    with pytest.raises(TypeError, match="map_location"):
        numbanet.load(tmp_path / "empty.pth", map_location={"cuda:0": "cpu"})


def test_cuda_checkpoint_needs_map_location_without_a_gpu(tmp_path):
    path = tmp_path / "gpu.pth"
    numbanet.save({"w": tensor([1.0], np.float32)}, path)
    header = saved_header(path)
    header["tensors"][0]["device"] = "cuda:0"
    rewrite(path, header)
    if not numbanet.cuda.is_available():
        with pytest.raises(RuntimeError, match="map_location='cpu'"):
            numbanet.load(path)
    assert numbanet.load(path, map_location="cpu")["w"].device == numbanet.device("cpu")


@pytest.mark.cuda
def test_map_location_cuda_moves_every_tensor(tmp_path):
    if not numbanet.cuda.is_available():
        pytest.skip("numbanet.cuda.is_available() is False on this machine")
    numbanet.save(checkpoint(), tmp_path / "c.pth")
    loaded = numbanet.load(tmp_path / "c.pth", map_location="cuda")
    assert loaded["model"]["fc1.weight"].device.type == "cuda"
    back = numbanet.load(tmp_path / "c.pth")
    assert back["model"]["fc1.weight"].device.type == "cpu"


# ----------------------------------------------------------------------------- damaged files


@pytest.fixture
def saved(tmp_path):
    path = tmp_path / "checkpoint.pth"
    numbanet.save(checkpoint(), path)
    return path


@pytest.mark.parametrize("keep", [0, 5, 20, PREAMBLE.size + 10, -1])
def test_truncated_files_are_reported_as_truncated(saved, keep):
    saved.write_bytes(saved.read_bytes()[:keep])
    with pytest.raises(SerializationError, match="truncated") as raised:
        numbanet.load(saved)
    assert str(saved) in str(raised.value)


def test_trailing_bytes_are_reported(saved):
    saved.write_bytes(saved.read_bytes() + b"\x00")
    with pytest.raises(SerializationError, match="1 unexpected bytes"):
        numbanet.load(saved)


@pytest.mark.parametrize("where", ["header", "payload"])
def test_a_flipped_byte_fails_the_checksum(saved, where):
    content = bytearray(saved.read_bytes())
    position = PREAMBLE.size + 3 if where == "header" else len(content) - 3
    content[position] ^= 0x01
    saved.write_bytes(bytes(content))
    with pytest.raises(SerializationError, match="SHA-256 checksum mismatch"):
        numbanet.load(saved)


def test_a_newer_format_version_is_refused(saved):
    rewrite(saved, version=2)
    with pytest.raises(SerializationError, match="format version 2"):
        numbanet.load(saved)


def set_tensor(field, value):
    return lambda h: h["tensors"][0].update({field: value})


def set_object(node):
    return lambda h: h.update(object=node)


HOSTILE_HEADERS = {
    # wrong types (JSON true is not 1, 1.0 is not 1, "0" is not 0)
    "offset as string": (set_tensor("offset", "0"), "'offset' is missing or not a int"),
    "offset as float": (set_tensor("offset", 0.0), "'offset' is missing or not a int"),
    "offset as bool": (set_tensor("offset", False), "'offset' is missing or not a int"),
    "nbytes as null": (set_tensor("nbytes", None), "'nbytes' is missing or not a int"),
    "shape as string": (set_tensor("shape", "2,3"), "'shape' is missing or not a list"),
    "shape of floats": (set_tensor("shape", [2.0, 3.0]), "invalid shape"),
    "shape of bools": (set_tensor("shape", [True, 3]), "invalid shape"),
    "nested shape": (set_tensor("shape", [[2, 3]]), "invalid shape"),
    "dtype as number": (set_tensor("dtype", 5), "'dtype' is missing or not a str"),
    "requires_grad as string": (set_tensor("requires_grad", "yes"), "'requires_grad'"),
    "tensor entry not an object": (lambda h: h["tensors"].insert(0, 5), "'dtype' is missing"),
    "tensors not a list": (lambda h: h.update(tensors={"0": {}}), "'tensors' is missing"),
    "tensors missing": (lambda h: h.pop("tensors"), "'tensors' is missing"),
    "object not a node": (lambda h: h.update(object=[]), "'object' is missing"),
    # offsets and sizes out of range
    "negative offset": (set_tensor("offset", -4), "outside the payload"),
    "huge offset": (set_tensor("offset", 10**9), "outside the payload"),
    "offset past 2**64": (set_tensor("offset", 2**70), "outside the payload"),
    "negative nbytes": (set_tensor("nbytes", -24), "do not hold shape"),
    "huge nbytes": (set_tensor("nbytes", 2**70), "do not hold shape"),
    "negative size": (set_tensor("shape", [-1, 3]), "invalid shape"),
    "size past 2**63": (set_tensor("shape", [2**63, 0]), "invalid shape"),
    "empty but unindexable": (set_tensor("shape", [0, 2**40, 2**40]), "invalid shape"),
    "too many dimensions": (set_tensor("shape", [1] * 65), "invalid shape"),
    # what the fields say against each other
    "unknown dtype": (set_tensor("dtype", "complex128"), "unknown dtype"),
    "shape and size disagree": (set_tensor("nbytes", 4), "do not hold shape"),
    "overlapping ranges": (lambda h: h["tensors"][1].update(offset=h["tensors"][0]["offset"]),
                           "tensors 0 and 1 overlap"),
    "unknown device": (set_tensor("device", "tpu:0"), "unknown device"),
    "bad device index": (set_tensor("device", "cuda:first"), "unknown device"),
    "integer tensor requiring grad": (
        lambda h: h["tensors"][2].update(requires_grad=True), "int64 cannot require gradients"),
    # object nodes
    "unknown node": (set_object({"type": "function", "value": "os.system"}), "unknown node"),
    "node not an object": (set_object({"type": "list", "items": [7]}), "unknown node"),
    "int as string": (set_object({"type": "int", "value": "1"}), "'value' is missing"),
    "bool as int": (set_object({"type": "bool", "value": 1}), "'value' is missing"),
    "float not a number": (set_object({"type": "float", "value": "one"}), "invalid float"),
    "dict entry not a pair": (set_object({"type": "dict", "items": [[{"type": "none"}]]}),
                              r"not a \[key, value\] pair"),
    "unhashable key": (set_object({"type": "dict", "items": [[
        {"type": "list", "items": []}, {"type": "none"}]]}), "unhashable dict key"),
    "missing tensor": (set_object({"type": "tensor", "index": 99}), "does not exist"),
    "negative tensor index": (set_object({"type": "tensor", "index": -1}), "does not exist"),
    "tensor index as bool": (set_object({"type": "tensor", "index": True}), "'index'"),
}


@pytest.mark.parametrize("case", sorted(HOSTILE_HEADERS))
def test_every_hostile_header_field_raises_serialization_error(saved, case):
    """A forger can write any header with a valid checksum: each field is checked before any
    byte of the payload is read, and each problem is a SerializationError naming it."""
    edit, problem = HOSTILE_HEADERS[case]
    header = saved_header(saved)
    assert [t["dtype"] for t in header["tensors"][:3]] == ["float32", "float64", "int64"]
    edit(header)
    rewrite(saved, header)
    with pytest.raises(SerializationError, match=problem):
        numbanet.load(saved)


@pytest.mark.parametrize("depth", [600, 100_000])
def test_deeply_nested_headers_are_refused_cleanly(tmp_path, depth):
    """Deep enough to exhaust Python's recursion (600) or the JSON parser's (100 000)."""
    header = b'{"tensors":[],"object":'
    header += b'{"type":"list","items":[' * depth + b'{"type":"none"}' + b"]}" * depth + b"}"
    path = tmp_path / "deep.pth"
    preamble = PREAMBLE.pack(MAGIC, 1, len(header), 0, hashlib.sha256(header).digest())
    path.write_bytes(preamble + header)
    with pytest.raises(SerializationError, match="nested too deeply|not valid JSON"):
        numbanet.load(path)


def test_a_header_that_is_not_an_object_is_refused(saved):
    rewrite(saved, header=[1, 2])
    with pytest.raises(SerializationError, match="not a JSON object"):
        numbanet.load(saved)


@pytest.mark.parametrize("byte", [2, 0xFF])
def test_bool_payload_bytes_other_than_0_and_1_are_refused(tmp_path, byte):
    path = tmp_path / "mask.pth"
    numbanet.save({"mask": tensor([True, False, True], np.bool_)}, path)
    rewrite(path, payload=bytes([1, byte, 0]))
    with pytest.raises(SerializationError, match="tensor 0: bool bytes must be 0 or 1"):
        numbanet.load(path)
    rewrite(path, payload=bytes([1, 0, 0]))
    assert numbanet.load(path)["mask"].numpy().tolist() == [True, False, False]


def test_empty_tensors_may_share_an_offset(tmp_path):
    path = tmp_path / "empty.pth"
    numbanet.save([tensor(np.zeros(0), np.float32), tensor(np.zeros((2, 0)), np.int64)], path)
    header = saved_header(path)
    assert [t["offset"] for t in header["tensors"]] == [0, 0]
    assert [t.shape for t in numbanet.load(path)] == [(0,), (2, 0)]


def test_other_files_are_not_numbanet_files(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("just some text, longer than the preamble of a numbanet file ...")
    with pytest.raises(SerializationError, match="not a numbanet file"):
        numbanet.load(path)


def test_serialization_errors_are_value_errors():
    assert issubclass(SerializationError, ValueError)


# ----------------------------------------------------------------------------- pickles


class CreatesFileWhenUnpickled:
    """Unpickling this calls open(marker, "w"): proof that a loader executed the pickle."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_the_exploit_is_real(tmp_path):
    """Control experiment: plain pickle.loads does run the payload and create the file."""
    marker = tmp_path / "pwned-by-pickle"
    pickle.loads(pickle.dumps(CreatesFileWhenUnpickled(marker))).close()
    assert marker.exists()


@pytest.mark.parametrize("protocol", [0, 2, pickle.HIGHEST_PROTOCOL])
def test_a_pickle_is_refused_without_being_executed(tmp_path, protocol):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pth"
    path.write_bytes(pickle.dumps({"state": CreatesFileWhenUnpickled(marker)}, protocol=protocol))
    with pytest.raises(SerializationError) as raised:
        numbanet.load(path)
    assert not marker.exists()
    if protocol >= 2:
        assert "pickle" in str(raised.value) and "never unpickles" in str(raised.value)


def test_a_pytorch_zip_checkpoint_is_refused_without_being_executed(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "model.pth"
    with zipfile.ZipFile(path, "w") as archive:  # the layout torch.save has used since 1.6
        archive.writestr("archive/data.pkl", pickle.dumps(CreatesFileWhenUnpickled(marker), 2))
        archive.writestr("archive/version", "3\n")
        archive.writestr("archive/data/0", struct.pack("<4f", 1, 2, 3, 4))
    with pytest.raises(SerializationError, match="PyTorch") as raised:
        numbanet.load(path)
    assert not marker.exists()
    assert "weights_only=True" in str(raised.value)  # it says how to convert the file
