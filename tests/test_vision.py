"""IDX parsing, the MNIST folder layout, transforms and the batch fast path of MNIST."""

from __future__ import annotations

import gzip
import hashlib
import os
import re
import struct
from pathlib import Path

import numpy as np
import pytest

import numbanet
from numbanet.utils.data import DataLoader, default_collate
from numbanet.vision import transforms
from numbanet.vision.datasets import MNIST, FashionMNIST, IDXFormatError, read_idx

SHARED_MNIST = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "mnist"
TYPE_CODES = {"uint8": 0x08, "int8": 0x09, "int16": 0x0B, "int32": 0x0C, "float32": 0x0D,
              "float64": 0x0E}  # fmt: skip


def idx_bytes(array: np.ndarray) -> bytes:
    """Encode ``array`` as IDX by hand: magic, big-endian sizes, big-endian elements."""
    header = struct.pack(">BBBB", 0, 0, TYPE_CODES[array.dtype.name], array.ndim)
    header += struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.astype(array.dtype.newbyteorder(">")).tobytes()


def write_idx(path: Path, array: np.ndarray, compress: bool = False) -> Path:
    content = idx_bytes(array)
    path.write_bytes(gzip.compress(content) if compress else content)
    return path


def make_mnist_folder(root: Path, name: str, count: int, compress: bool, seed: int = 0) -> Path:
    """Write a small synthetic dataset in torchvision's layout: root/<name>/raw/<files>."""
    raw = root / name / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for split in ("train", "t10k"):
        images = rng.integers(0, 256, size=(count, 28, 28), dtype=np.uint8)
        labels = rng.integers(0, 10, size=count, dtype=np.uint8)
        suffix = ".gz" if compress else ""
        write_idx(raw / f"{split}-images-idx3-ubyte{suffix}", images, compress)
        write_idx(raw / f"{split}-labels-idx1-ubyte{suffix}", labels, compress)
    return raw


# ----------------------------------------------------------------------------- IDX


@pytest.mark.parametrize("dtype", list(TYPE_CODES))
def test_read_idx_decodes_every_element_type_big_endian(tmp_path, dtype):
    values = (np.arange(24).reshape(2, 3, 4) - 5).astype(dtype)
    parsed = read_idx(write_idx(tmp_path / "values.idx", values))
    assert parsed.dtype == np.dtype(dtype).newbyteorder("=")
    np.testing.assert_array_equal(parsed, values)


def test_read_idx_gunzips_by_content_not_by_name(tmp_path):
    labels = np.array([7, 2, 1, 0], dtype=np.uint8)
    gz = write_idx(tmp_path / "labels.gz", labels, compress=True)
    disguised = tmp_path / "labels-no-suffix"
    disguised.write_bytes(gz.read_bytes())
    np.testing.assert_array_equal(read_idx(gz), labels)
    np.testing.assert_array_equal(read_idx(disguised), labels)


def test_read_idx_header_matches_the_mnist_example(tmp_path):
    images = np.zeros((3, 28, 28), dtype=np.uint8)
    assert idx_bytes(images)[:16].hex() == "00000803000000030000001c0000001c"
    assert read_idx(write_idx(tmp_path / "i", images)).shape == (3, 28, 28)


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (b"\x00\x00", "shorter than the 4-byte IDX magic"),
        (b"PK\x03\x04rest", "not an IDX file"),
        (b"\x00\x00\x07\x01\x00\x00\x00\x01\x05", "unknown element type code 0x07"),
        (b"\x00\x00\x08\x03\x00\x00\x00\x02", "truncated header"),
        (b"\x00\x00\x08\x01\x00\x00\x00\x05abc", "truncated: shape (5,)"),
        (b"\x00\x00\x08\x01\x00\x00\x00\x02abc", "1 extra byte(s) after the data"),
    ],
)
def test_read_idx_names_the_file_and_the_problem(tmp_path, content, problem):
    path = tmp_path / "broken-idx"
    path.write_bytes(content)
    with pytest.raises(IDXFormatError, match=re.escape(problem)) as raised:
        read_idx(path)
    assert str(path) in str(raised.value)
    assert isinstance(raised.value, ValueError)


def test_read_idx_reports_a_truncated_gzip_stream(tmp_path):
    gz = write_idx(tmp_path / "labels.gz", np.arange(200, dtype=np.uint8), compress=True)
    gz.write_bytes(gz.read_bytes()[:-20])
    with pytest.raises(IDXFormatError, match="truncated gzip stream"):
        read_idx(gz)


def test_read_idx_reports_a_corrupt_gzip_stream(tmp_path):
    gz = write_idx(tmp_path / "labels.gz", np.arange(200, dtype=np.uint8), compress=True)
    content = bytearray(gz.read_bytes())
    content[12:20] = b"\xff" * 8
    gz.write_bytes(bytes(content))
    with pytest.raises(IDXFormatError, match="gzip"):
        read_idx(gz)


# ----------------------------------------------------------------------------- MNIST layout


@pytest.mark.parametrize("compress", [False, True])
@pytest.mark.parametrize("train", [True, False])
def test_mnist_reads_torchvision_layout(tmp_path, compress, train):
    make_mnist_folder(tmp_path, "MNIST", count=6, compress=compress)
    dataset = MNIST(tmp_path, train=train)
    split = "train" if train else "t10k"
    suffix = ".gz" if compress else ""
    expected_images = read_idx(tmp_path / "MNIST" / "raw" / f"{split}-images-idx3-ubyte{suffix}")
    expected_labels = read_idx(tmp_path / "MNIST" / "raw" / f"{split}-labels-idx1-ubyte{suffix}")

    assert len(dataset) == 6
    image, label = dataset[4]
    assert isinstance(image, np.ndarray) and image.dtype == np.uint8 and image.shape == (28, 28)
    np.testing.assert_array_equal(image, expected_images[4])
    assert type(label) is int and label == expected_labels[4]
    assert dataset.data.shape == (6, 28, 28) and dataset.data.dtype == numbanet.uint8
    assert dataset.targets.dtype == numbanet.int64
    np.testing.assert_array_equal(dataset.targets.numpy(), expected_labels)
    assert dataset.classes[7] == "7 - seven" and dataset.class_to_idx["3 - three"] == 3


def test_fashion_mnist_has_its_own_folder_and_classes(tmp_path):
    make_mnist_folder(tmp_path, "FashionMNIST", count=3, compress=True)
    dataset = FashionMNIST(str(tmp_path), train=False)
    assert len(dataset) == 3 and dataset.classes[9] == "Ankle boot"
    with pytest.raises(RuntimeError, match="Dataset not found"):
        MNIST(tmp_path, train=False)


def test_missing_files_say_where_to_put_them(tmp_path):
    with pytest.raises(RuntimeError, match="download=True") as raised:
        MNIST(tmp_path, train=False)
    assert str(tmp_path / "MNIST" / "raw") in str(raised.value)
    assert "t10k-images-idx3-ubyte" in str(raised.value)


def test_mismatched_image_and_label_counts_are_reported(tmp_path):
    raw = make_mnist_folder(tmp_path, "MNIST", count=4, compress=False)
    write_idx(raw / "t10k-labels-idx1-ubyte", np.zeros(3, dtype=np.uint8))
    with pytest.raises(IDXFormatError, match="3 labels for the 4 images"):
        MNIST(tmp_path, train=False)


def test_labels_outside_the_classes_are_reported(tmp_path):
    raw = make_mnist_folder(tmp_path, "MNIST", count=4, compress=False)
    write_idx(raw / "t10k-labels-idx1-ubyte", np.array([1, 2, 3, 12], dtype=np.uint8))
    with pytest.raises(IDXFormatError, match="label 12"):
        MNIST(tmp_path, train=False)


def test_targets_and_data_can_be_replaced_like_torchvision(tmp_path):
    make_mnist_folder(tmp_path, "MNIST", count=8, compress=False)
    dataset = MNIST(tmp_path, train=False)
    keep = np.array([1, 5])
    dataset.data = dataset.data.numpy()[keep]
    dataset.targets = numbanet.from_numpy(dataset.targets.numpy()[keep])
    assert len(dataset) == 2 and dataset[1][1] == int(dataset.targets.numpy()[1])


# ----------------------------------------------------------------------------- download


def make_mirror(folder: Path, count: int = 3) -> list[tuple[str, str]]:
    """A local mirror (served through file:// URLs) and its (file name, md5) resources."""
    make_mnist_folder(folder, "files", count=count, compress=True)
    mirror = folder / "files" / "raw"
    return [
        (path.name, hashlib.md5(path.read_bytes()).hexdigest()) for path in sorted(mirror.iterdir())
    ]


def mnist_with_mirrors(mirrors: list[str], resources: list[tuple[str, str]]) -> type[MNIST]:
    return type("MNIST", (MNIST,), {"mirrors": mirrors, "resources": resources})


def test_download_fetches_checks_and_extracts(tmp_path):
    resources = make_mirror(tmp_path / "mirror")
    good = (tmp_path / "mirror" / "files" / "raw").as_uri() + "/"
    unreachable = (tmp_path / "nowhere").as_uri() + "/"
    dataset = mnist_with_mirrors([unreachable, good], resources)(tmp_path / "data", download=True)
    raw = tmp_path / "data" / "MNIST" / "raw"
    assert sorted(os.listdir(raw)) == sorted(
        [name for name, _ in resources] + [name.removesuffix(".gz") for name, _ in resources]
    )
    assert len(dataset) == 3
    assert (raw / "t10k-images-idx3-ubyte").read_bytes()[:4] == b"\x00\x00\x08\x03"


def test_download_rejects_an_md5_mismatch_and_leaves_nothing_behind(tmp_path):
    resources = [(name, "0" * 32) for name, _ in make_mirror(tmp_path / "mirror")]
    mirror = (tmp_path / "mirror" / "files" / "raw").as_uri() + "/"
    with pytest.raises(RuntimeError, match="MD5 mismatch"):
        mnist_with_mirrors([mirror], resources)(tmp_path / "data", download=True)
    assert os.listdir(tmp_path / "data" / "MNIST" / "raw") == []


def test_download_offline_names_the_folder_for_manual_copies(tmp_path):
    resources = make_mirror(tmp_path / "mirror")
    offline = mnist_with_mirrors([(tmp_path / "offline").as_uri() + "/"], resources)
    with pytest.raises(RuntimeError, match="could not download") as raised:
        offline(tmp_path / "data", download=True)
    assert str(tmp_path / "data" / "MNIST" / "raw") in str(raised.value)
    assert "download=False" in str(raised.value)


def test_download_keeps_files_already_there(tmp_path):
    make_mnist_folder(tmp_path, "MNIST", count=2, compress=False)
    never_used = mnist_with_mirrors([(tmp_path / "nowhere").as_uri() + "/"], make_mirror(tmp_path))
    assert len(never_used(tmp_path, train=False, download=True)) == 2


# ----------------------------------------------------------------------------- transforms


def test_to_tensor_moves_channels_first_and_scales_uint8():
    grey = np.arange(12, dtype=np.uint8).reshape(3, 4) * 20
    tensor = transforms.ToTensor()(grey)
    assert tensor.shape == (1, 3, 4) and tensor.dtype == numbanet.float32
    np.testing.assert_allclose(tensor.numpy()[0], grey / 255, rtol=1e-6)

    colour = np.random.default_rng(0).integers(0, 256, (2, 3, 3), dtype=np.uint8)
    np.testing.assert_allclose(
        transforms.ToTensor()(colour).numpy(), colour.transpose(2, 0, 1) / 255, rtol=1e-6
    )


def test_to_tensor_keeps_values_of_non_uint8_images():
    image = np.full((2, 2), 3.5)
    tensor = transforms.ToTensor()(image)
    assert tensor.dtype == numbanet.float64 and tensor.numpy().max() == 3.5


def test_to_tensor_rejects_what_is_not_an_image_array():
    with pytest.raises(TypeError, match="ndarray"):
        transforms.ToTensor()([[1, 2], [3, 4]])
    with pytest.raises(ValueError, match="2/3 dimensional"):
        transforms.ToTensor()(np.zeros((1, 2, 2, 2), dtype=np.uint8))


def test_normalize_per_channel():
    values = np.random.default_rng(1).random((2, 3, 3), dtype=np.float32)
    out = transforms.Normalize((0.5, 0.25), (2.0, 0.5))(numbanet.from_numpy(values)).numpy()
    assert out.dtype == np.float32
    np.testing.assert_allclose(out[0], (values[0] - 0.5) / 2.0, rtol=1e-6)
    np.testing.assert_allclose(out[1], (values[1] - 0.25) / 0.5, rtol=1e-6)


def test_normalize_errors_match_torchvision():
    normalize = transforms.Normalize((0.5,), (0.0,))
    with pytest.raises(ValueError, match="std evaluated to zero"):
        normalize(numbanet.from_numpy(np.zeros((1, 2, 2), dtype=np.float32)))
    with pytest.raises(TypeError, match="float tensor"):
        normalize(numbanet.from_numpy(np.zeros((1, 2, 2), dtype=np.int64)))
    with pytest.raises(ValueError, match=r"\(\.\.\., C, H, W\)"):
        normalize(numbanet.from_numpy(np.zeros((2, 2), dtype=np.float32)))


def test_batch_transform_only_for_vectorisable_pipelines():
    mnist_pipeline = transforms.Compose([transforms.ToTensor(), transforms.Normalize([0.1], [0.3])])
    assert transforms.batch_transform(mnist_pipeline) is not None
    assert transforms.batch_transform(transforms.Compose([np.flipud])) is None
    assert "Normalize(mean=[0.1], std=[0.3])" in repr(mnist_pipeline)


def same_batch(fast, slow) -> None:
    for fast_part, slow_part in zip(fast, slow, strict=True):
        assert fast_part.dtype == slow_part.dtype and fast_part.shape == slow_part.shape
        np.testing.assert_array_equal(fast_part.numpy(), slow_part.numpy())


@pytest.mark.parametrize(
    ("transform", "target_transform"),
    [
        (None, None),
        (transforms.ToTensor(), None),
        (transforms.Compose([transforms.ToTensor(), transforms.Normalize([0.13], [0.31])]), None),
        (transforms.Compose([np.fliplr, transforms.ToTensor()]), None),  # per-image fallback
        (transforms.ToTensor(), lambda label: float(label) / 2),
    ],
)
def test_get_batch_equals_collating_items(tmp_path, transform, target_transform):
    make_mnist_folder(tmp_path, "MNIST", count=10, compress=False)
    dataset = MNIST(tmp_path, train=False, transform=transform, target_transform=target_transform)
    indices = np.array([9, 0, 4, 4])
    same_batch(dataset.get_batch(indices), default_collate([dataset[int(i)] for i in indices]))


# ----------------------------------------------------------------------------- real digits


@pytest.fixture(scope="module")
def real_mnist_root(tmp_path_factory) -> Path:
    """A root holding symlinks to the MNIST test files of ../shared/data/mnist."""
    if not (SHARED_MNIST / "t10k-images-idx3-ubyte.gz").is_file():
        pytest.skip(f"the real MNIST test set is not at {SHARED_MNIST} (a fresh clone has none)")
    root = tmp_path_factory.mktemp("real")
    raw = root / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for name in ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"):
        (raw / name).symlink_to(SHARED_MNIST / name)
    return root


def test_real_mnist_test_set(real_mnist_root):
    dataset = MNIST(real_mnist_root, train=False, transform=transforms.ToTensor())
    assert len(dataset) == 10000
    image, label = dataset[0]
    assert label == 7 and image.shape == (1, 28, 28)  # the first test digit is a 7
    assert 0.0 == image.numpy().min() and image.numpy().max() == 1.0
    counts = np.bincount(dataset.targets.numpy(), minlength=10)
    assert counts.tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    # The pixel mean of the test set is close to the training mean everybody normalises with.
    assert abs(dataset.data.numpy().mean() / 255 - 0.1307) < 0.005


def test_real_mnist_epoch_loads_as_938_batches(real_mnist_root):
    # (how long the epoch takes is measured by benchmarks/bench_core.py)
    normalize = transforms.Normalize((0.1307,), (0.3081,))
    pipeline = transforms.Compose([transforms.ToTensor(), normalize])
    dataset = MNIST(real_mnist_root, train=False, transform=pipeline)
    dataset.data = np.tile(dataset.data.numpy(), (6, 1, 1))  # 60,000 images, a training epoch
    dataset.targets = np.tile(dataset.targets.numpy(), 6)
    loader = DataLoader(dataset, batch_size=64, shuffle=True)

    batches = list(loader)

    assert len(batches) == len(loader) == 938
    images, labels = batches[0]
    assert images.shape == (64, 1, 28, 28) and images.dtype == numbanet.float32
    assert labels.shape == (64,) and labels.dtype == numbanet.int64
