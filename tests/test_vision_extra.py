"""vision beyond MNIST: CIFAR's on-disk format and its restricted unpickler, the image
transforms, make_grid / save_image / read_image, and the ResNet / VGG models.

torchvision is not installed beside torch here, so vision parts are checked against stated
values (and against Pillow, which torchvision itself calls); tensor resampling is compared
with ``torch.nn.functional.interpolate`` (what torchvision's tensor path runs) when torch is
installed.
"""

import os
import pickle
import struct

import numpy as np
import pytest
from PIL import Image

import numbanet
from numbanet import nn
from numbanet.utils.data import DataLoader
from numbanet.vision import datasets, io, models, transforms, utils
from numbanet.vision.datasets import CIFAR10, CIFAR100, FashionMNIST, UnsafePickleError
from numbanet.vision.datasets.safe_pickle import load_numpy_pickle

try:
    import torch
except ImportError:  # CI has no torch: the stated values still run
    torch = None



def needs_torch(test):
    """Mark a comparison with PyTorch, skipped where torch is not installed."""
    skip = pytest.mark.skipif(torch is None, reason="PyTorch is not installed")
    return pytest.mark.torch(skip(test))

CIFAR10_NAMES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse",
                 "ship", "truck"]


# ---------------------------------------------------------------------- CIFAR files


def write_cifar10(root, per_batch=4, seed=0):
    """cifar-10-batches-py as Krizhevsky ships it: pickled dicts of a uint8 N x 3072 array
    (R plane, G plane, B plane per row) and a list of labels; batches.meta with the names."""
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(seed)
    written = {}
    for name in ["data_batch_1", "data_batch_2", "data_batch_3", "data_batch_4",
                 "data_batch_5", "test_batch"]:
        data = rng.integers(0, 256, size=(per_batch, 3072), dtype=np.uint8)
        labels = rng.integers(0, 10, size=per_batch).tolist()
        entry = {"batch_label": name, "data": data, "labels": labels,
                 "filenames": [f"img_{i}.png" for i in range(per_batch)]}
        (folder / name).write_bytes(pickle.dumps(entry, protocol=2))
        written[name] = (data, labels)
    meta = {"label_names": CIFAR10_NAMES, "num_cases_per_batch": per_batch, "num_vis": 3072}
    (folder / "batches.meta").write_bytes(pickle.dumps(meta, protocol=2))
    return written


def test_cifar10_reads_the_real_layout(tmp_path):
    written = write_cifar10(tmp_path)
    train = CIFAR10(tmp_path, train=True)
    test = CIFAR10(str(tmp_path), train=False)
    assert len(train) == 20 and len(test) == 4
    assert train.classes == CIFAR10_NAMES and train.class_to_idx["frog"] == 6
    assert train.data.shape == (20, 32, 32, 3) and train.data.dtype == np.uint8
    # Item 5 is the first image of data_batch_2; pixel (row 3, column 7) of its green plane
    # is byte 1024 + 3 * 32 + 7 of its row.
    data, labels = written["data_batch_2"]
    image, label = train[4]
    assert label == labels[0] and isinstance(label, int)
    assert image.shape == (32, 32, 3)
    assert image[3, 7, 1] == data[0, 1024 + 3 * 32 + 7]
    assert image[31, 0, 2] == data[0, 2048 + 31 * 32]
    assert test.targets == written["test_batch"][1]


def test_cifar10_with_transforms_batches_as_item_by_item(tmp_path):
    write_cifar10(tmp_path)
    transform = transforms.Compose([transforms.ToTensor(),
                                    transforms.Normalize((0.5, 0.5, 0.5), (0.5, 0.5, 0.5))])
    train = CIFAR10(tmp_path, train=True, transform=transform)
    image, _ = train[0]
    assert image.shape == (3, 32, 32) and image.dtype == numbanet.float32
    expected = (train.data[0].transpose(2, 0, 1) / np.float32(255) - 0.5) / 0.5
    np.testing.assert_allclose(image.numpy(), expected, rtol=1e-6, atol=1e-6)
    images, labels = next(iter(DataLoader(train, batch_size=6)))
    assert images.shape == (6, 3, 32, 32) and labels.dtype == numbanet.int64
    for k in range(6):
        np.testing.assert_array_equal(images[k].numpy(), train[k][0].numpy())
        assert labels[k].item() == train[k][1]
    flipped = CIFAR10(tmp_path, transform=transforms.Compose(
        [transforms.RandomHorizontalFlip(p=1.0), transforms.ToTensor()]))
    batch, _ = next(iter(DataLoader(flipped, batch_size=2)))  # a per-image transform
    np.testing.assert_array_equal(batch[1].numpy()[:, :, ::-1], transforms.ToTensor()(
        train.data[1]).numpy())


def test_cifar100_reads_fine_labels(tmp_path):
    folder = tmp_path / "cifar-100-python"
    folder.mkdir()
    data = np.arange(2 * 3072, dtype=np.int64).astype(np.uint8).reshape(2, 3072)
    for name in ("train", "test"):
        entry = {"data": data, "fine_labels": [99, 5], "coarse_labels": [19, 1]}
        (folder / name).write_bytes(pickle.dumps(entry, protocol=4))
    names = [f"class_{i}" for i in range(100)]
    (folder / "meta").write_bytes(pickle.dumps({"fine_label_names": names,
                                                "coarse_label_names": names[:20]}))
    dataset = CIFAR100(tmp_path, train=False)
    assert dataset.targets == [99, 5] and dataset.classes[99] == "class_99"
    assert dataset[1][0][0, 0].tolist() == [(3072 + 0) % 256, (3072 + 1024) % 256,
                                              (3072 + 2048) % 256]


def test_missing_cifar_files_say_where_to_put_them(tmp_path):
    with pytest.raises(RuntimeError, match="Dataset not found or corrupted") as raised:
        CIFAR10(tmp_path)
    message = str(raised.value)
    assert str(tmp_path / "cifar-10-batches-py") in message and "data_batch_1" in message
    assert "cifar-10-python.tar.gz" in message


def test_cifar_download_offline_says_where_to_put_the_files(tmp_path, monkeypatch):
    def offline(url, destination, md5):
        raise OSError("<urlopen error [Errno -3] Temporary failure in name resolution>")

    monkeypatch.setattr("numbanet.vision.datasets.cifar._download", offline)
    with pytest.raises(RuntimeError) as raised:
        CIFAR10(tmp_path, download=True)
    message = str(raised.value)
    assert "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz" in message
    where = f"(or its unpacked folder cifar-10-batches-py/) into {tmp_path}"
    assert f"put cifar-10-python.tar.gz {where}" in message


def test_cifar_download_skips_present_files_and_unpacks_an_archive(tmp_path, monkeypatch):
    import tarfile

    source = tmp_path / "source"
    write_cifar10(source)
    archive = tmp_path / "root" / "cifar-10-python.tar.gz"
    archive.parent.mkdir()
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(source / "cifar-10-batches-py", arcname="cifar-10-batches-py")

    def must_not_download(*args):
        raise AssertionError("the archive is already there")

    monkeypatch.setattr("numbanet.vision.datasets.cifar._download", must_not_download)
    assert len(CIFAR10(archive.parent, train=False, download=True)) == 4


# ---------------------------------------------------------------------- the restricted unpickler


class RunsCommand:
    def __init__(self, function, argument):
        self.function, self.argument = function, argument

    def __reduce__(self):
        return self.function, (self.argument,)


def malicious_pickles(marker):
    command = f"touch {marker}"
    return {
        "os.system by hand": b"cos\nsystem\n(S'" + command.encode() + b"'\ntR.",
        "os.system": pickle.dumps({"data": RunsCommand(os.system, command)}, protocol=2),
        "builtins.eval": pickle.dumps(
            {"data": RunsCommand(eval, f"__import__('os').system('{command}')")}, protocol=4),
        "builtins.exec": pickle.dumps([RunsCommand(exec, f"open('{marker}', 'w')")]),
        "subprocess": b"csubprocess\ncheck_call\n((S'touch'\nS'" + str(marker).encode()
        + b"'\nltR.",
    }


@pytest.mark.parametrize("kind", ["os.system by hand", "os.system", "builtins.eval",
                                  "builtins.exec", "subprocess"])
def test_a_pickle_naming_code_is_refused_and_nothing_runs(tmp_path, kind):
    marker = tmp_path / "ran"
    payload = malicious_pickles(marker)[kind]
    with pytest.raises(UnsafePickleError, match="refusing to load"):
        load_numpy_pickle(payload)
    write_cifar10(tmp_path / "root")
    (tmp_path / "root" / "cifar-10-batches-py" / "data_batch_3").write_bytes(payload)
    with pytest.raises(UnsafePickleError, match="nothing in it was executed"):
        CIFAR10(tmp_path / "root")
    assert not marker.exists()
    # Plain pickle would have run it: the marker shows the payloads are real.
    if kind == "os.system by hand":
        pickle.loads(payload)
        assert marker.exists()


def test_object_arrays_are_refused_but_numeric_arrays_load():
    with pytest.raises(UnsafePickleError, match="dtype object"):
        load_numpy_pickle(pickle.dumps(np.array([1, "a"], dtype=object), protocol=2))
    for protocol in (2, 3, 4, 5):
        values = {"x": np.arange(12, dtype=np.float32).reshape(3, 4)[:, 1:], "n": [1, 2.5, "s"]}
        loaded = load_numpy_pickle(pickle.dumps(values, protocol=protocol))
        np.testing.assert_array_equal(loaded["x"], values["x"])
        assert loaded["n"] == [1, 2.5, "s"]


# ---------------------------------------------------------------------- FashionMNIST


def test_fashion_mnist_reads_the_idx_layout(tmp_path):
    raw = tmp_path / "FashionMNIST" / "raw"
    raw.mkdir(parents=True)
    images = np.arange(2 * 28 * 28, dtype=np.int64).astype(np.uint8).reshape(2, 28, 28)
    header = struct.pack(">BBBBIII", 0, 0, 0x08, 3, 2, 28, 28)
    (raw / "t10k-images-idx3-ubyte").write_bytes(header + images.tobytes())
    (raw / "t10k-labels-idx1-ubyte").write_bytes(struct.pack(">BBBBI", 0, 0, 8, 1, 2) + b"\x09\x00")
    dataset = FashionMNIST(tmp_path, train=False, transform=transforms.ToTensor())
    image, label = dataset[0]
    assert label == 9 and dataset.classes[label] == "Ankle boot"
    assert image.shape == (1, 28, 28) and abs(image[0, 1, 2].item() - 30 / 255) < 1e-7
    assert datasets.FashionMNIST is FashionMNIST


# ---------------------------------------------------------------------- transforms


def grid_image(rows=4, columns=5, channels=3):
    return np.arange(rows * columns * channels, dtype=np.int64).astype(np.uint8).reshape(
        rows, columns, channels)


def test_lambda_compose_and_a_one_hot_target():
    one_hot = transforms.Lambda(lambda y: numbanet.from_numpy(np.eye(10, dtype=np.float32)[y]))
    assert one_hot(3).tolist() == [0, 0, 0, 1, 0, 0, 0, 0, 0, 0]
    assert repr(one_hot) == "Lambda()"
    with pytest.raises(TypeError, match="Argument lambd should be callable, got 'int'"):
        transforms.Lambda(3)
    double = transforms.Compose([transforms.Lambda(lambda x: x * 2), transforms.Lambda(str)])
    assert double(4) == "8"


def test_to_tensor_reads_pil_images_as_numpy_ones():
    pixels = grid_image()
    from_pil = transforms.ToTensor()(Image.fromarray(pixels))
    np.testing.assert_array_equal(from_pil.numpy(), transforms.ToTensor()(pixels).numpy())
    assert from_pil.shape == (3, 4, 5)
    binary = Image.fromarray(np.array([[True, False]]))  # mode "1": 0 / 255
    assert transforms.ToTensor()(binary).tolist() == [[[1.0, 0.0]]]


def test_center_crop_stated_values_on_every_kind_of_image():
    pixels = np.arange(25, dtype=np.uint8).reshape(5, 5)
    # top = round((5 - 2) / 2) = round(1.5) = 2 (Python rounds half to even), left likewise.
    assert transforms.CenterCrop(2)(pixels).tolist() == [[12, 13], [17, 18]]
    assert transforms.CenterCrop((3, 1))(pixels).tolist() == [[7], [12], [17]]
    as_pil = transforms.CenterCrop(2)(Image.fromarray(pixels))
    assert isinstance(as_pil, Image.Image) and np.asarray(as_pil).tolist() == [[12, 13], [17, 18]]
    tensor = numbanet.from_numpy(pixels[np.newaxis].astype(np.float32))
    assert transforms.CenterCrop(2)(tensor).tolist() == [[[12.0, 13.0], [17.0, 18.0]]]
    # Larger than the image: zero padding first, torchvision's split: left (5-2)//2 = 1,
    # right (5-2+1)//2 = 2, top (2-1)//2 = 0, bottom (2-1+1)//2 = 1.
    padded = transforms.CenterCrop((2, 5))(np.array([[1, 2]], dtype=np.uint8))
    assert padded.tolist() == [[0, 1, 2, 0, 0], [0, 0, 0, 0, 0]]


def test_pad_modes_stated_values():
    row = np.array([[1, 2, 3]], dtype=np.uint8)
    assert transforms.Pad((2, 0))(row).tolist() == [[0, 0, 1, 2, 3, 0, 0]]
    assert transforms.Pad((2, 0), fill=9)(row).tolist() == [[9, 9, 1, 2, 3, 9, 9]]
    assert transforms.Pad((2, 0), padding_mode="edge")(row).tolist() == [[1, 1, 1, 2, 3, 3, 3]]
    assert transforms.Pad((2, 0), padding_mode="reflect")(row).tolist() == [[3, 2, 1, 2, 3, 2, 1]]
    assert transforms.Pad((2, 0), padding_mode="symmetric")(row).tolist() == [
        [2, 1, 1, 2, 3, 3, 2]]
    assert transforms.Pad((1, 0, 0, 1))(row).tolist() == [[0, 1, 2, 3], [0, 0, 0, 0]]
    rgb = transforms.Pad(1, fill=(10, 20, 30))(np.zeros((1, 1, 3), dtype=np.uint8))
    assert rgb.shape == (3, 3, 3) and rgb[0, 0].tolist() == [10, 20, 30]
    assert rgb[1, 1].tolist() == [0, 0, 0]
    image = transforms.Pad(2)(Image.fromarray(grid_image()))
    assert image.size == (9, 8) and image.mode == "RGB"
    message = "Padding must be an int or a 1, 2, or 4 element tuple, not a 3 element tuple"
    with pytest.raises(ValueError, match=message):
        transforms.Pad((1, 2, 3))
    message = "Padding mode should be either constant, edge, reflect or symmetric"
    with pytest.raises(ValueError, match=message):
        transforms.Pad(1, padding_mode="wrap")


@needs_torch
def test_tensor_padding_matches_torch_pad():
    values = np.random.default_rng(0).standard_normal((2, 3, 4)).astype(np.float32)
    for mode, torch_mode in (("constant", "constant"), ("edge", "replicate"),
                             ("reflect", "reflect")):
        ours = transforms.Pad((1, 2, 3, 1), padding_mode=mode)(numbanet.from_numpy(values))
        theirs = torch.nn.functional.pad(torch.from_numpy(values)[None], (1, 3, 2, 1),
                                         mode=torch_mode)[0]
        np.testing.assert_array_equal(ours.numpy(), theirs.numpy())


def test_random_crop_with_padding_shifts_the_image():
    numbanet.manual_seed(0)
    pixels = grid_image(6, 6, 1)[:, :, 0]
    crop = transforms.RandomCrop(6, padding=2)
    seen = set()
    for _ in range(40):
        out = crop(pixels)
        assert out.shape == (6, 6)
        padded = np.pad(pixels, 2)
        matches = [(top, left) for top in range(5) for left in range(5)
                   if np.array_equal(padded[top:top + 6, left:left + 6], out)]
        assert matches
        seen.update(matches)
    assert len(seen) > 5  # random positions, not always the same one
    message = r"Required crop size \(7, 7\) is larger than input image size \(6, 6\)"
    with pytest.raises(ValueError, match=message):
        transforms.RandomCrop(7)(pixels)
    assert transforms.RandomCrop(8, pad_if_needed=True)(pixels).shape == (8, 8)


def test_geometry_keeps_a_palette_image_s_palette():
    image = Image.new("P", (4, 3))
    image.putpalette([value % 256 for value in range(768)])
    image.putpixel((0, 0), 7)
    flipped = transforms.RandomHorizontalFlip(p=1.0)(transforms.Pad(1)(image))
    assert flipped.mode == "P" and flipped.size == (6, 5)
    assert flipped.getpalette() == image.getpalette() and flipped.getpixel((4, 1)) == 7


def test_a_sampler_may_yield_any_key_the_dataset_accepts():
    table = {"a": 1, "b": 2, "c": 3}
    batches = list(DataLoader(table, batch_size=2, sampler=["c", "a", "b"]))
    assert [batch.tolist() for batch in batches] == [[3, 1], [2]]


def test_flips_and_their_probability():
    pixels = grid_image(2, 3, 1)
    assert np.array_equal(transforms.RandomHorizontalFlip(p=1.0)(pixels), pixels[:, ::-1])
    assert np.array_equal(transforms.RandomHorizontalFlip(p=0.0)(pixels), pixels)
    assert np.array_equal(transforms.RandomVerticalFlip(p=1.0)(pixels), pixels[::-1])
    tensor = numbanet.from_numpy(pixels.transpose(2, 0, 1).copy())
    flipped = transforms.RandomHorizontalFlip(p=1.0)(tensor)
    assert flipped.numpy().tolist() == pixels.transpose(2, 0, 1)[:, :, ::-1].tolist()
    numbanet.manual_seed(0)
    flips = sum(np.array_equal(transforms.RandomHorizontalFlip()(pixels), pixels[:, ::-1])
                for _ in range(400))
    assert 160 < flips < 240


def test_resize_pil_and_numpy_as_pillow_and_the_shorter_side_rule():
    pixels = np.random.default_rng(1).integers(0, 256, (10, 20, 3), dtype=np.uint8)
    expected = np.asarray(Image.fromarray(pixels).resize((8, 4), Image.Resampling.BILINEAR))
    assert np.array_equal(transforms.Resize(4)(pixels), expected)  # 10x20 -> 4x8
    pil = transforms.Resize((5, 7))(Image.fromarray(pixels))
    assert isinstance(pil, Image.Image) and pil.size == (7, 5)
    assert transforms.Resize(6, max_size=9)(pixels).shape == (4, 9, 3)
    nearest = transforms.Resize(2, interpolation=transforms.InterpolationMode.NEAREST)
    assert nearest(np.arange(16, dtype=np.uint8).reshape(4, 4)).tolist() == [[5, 7], [13, 15]]


@needs_torch
@pytest.mark.parametrize("size", [(3, 5), (12, 17), 6])
def test_tensor_resize_matches_torch_interpolate(size):
    values = np.random.default_rng(2).random((2, 3, 8, 10), dtype=np.float32)
    ours = transforms.Resize(size)(numbanet.from_numpy(values)).numpy()
    target = size if isinstance(size, tuple) else (6, 7)
    theirs = torch.nn.functional.interpolate(torch.from_numpy(values), size=target,
                                             mode="bilinear", antialias=True,
                                             align_corners=False).numpy()
    np.testing.assert_allclose(ours, theirs, atol=2e-5)
    plain = transforms.Resize(size, antialias=False)(numbanet.from_numpy(values)).numpy()
    theirs = torch.nn.functional.interpolate(torch.from_numpy(values), size=target,
                                             mode="bilinear", antialias=False,
                                             align_corners=False).numpy()
    np.testing.assert_allclose(plain, theirs, atol=2e-6)
    nearest = transforms.Resize(size, interpolation=transforms.InterpolationMode.NEAREST)
    theirs = torch.nn.functional.interpolate(torch.from_numpy(values), size=target,
                                             mode="nearest").numpy()
    np.testing.assert_array_equal(nearest(numbanet.from_numpy(values)).numpy(), theirs)


def test_grayscale_on_pil_numpy_and_tensors():
    pixels = np.array([[[255, 0, 0], [0, 255, 0], [0, 0, 255], [10, 20, 30]]], dtype=np.uint8)
    expected_l = np.asarray(Image.fromarray(pixels).convert("L"))
    assert np.array_equal(transforms.Grayscale()(pixels), expected_l)
    assert expected_l.tolist() == [[76, 150, 29, 18]]  # Pillow's integer luma
    assert transforms.Grayscale(3)(Image.fromarray(pixels)).mode == "RGB"
    tensor = numbanet.from_numpy(pixels.transpose(2, 0, 1).astype(np.float32) / 255)
    grey = transforms.Grayscale()(tensor)
    assert grey.shape == (1, 1, 4)
    np.testing.assert_allclose(grey.numpy()[0, 0, :3], [0.2989, 0.587, 0.114], rtol=1e-6)
    assert transforms.Grayscale(3)(tensor).shape == (3, 1, 4)
    with pytest.raises(ValueError, match="num_output_channels should be either 1 or 3"):
        transforms.Grayscale(2)(tensor)


def test_to_pil_image_modes_and_round_trip():
    tensor = numbanet.from_numpy(np.array([[[0.0, 0.5, 1.0]]], dtype=np.float32))
    image = transforms.ToPILImage()(tensor)
    assert image.mode == "L" and np.asarray(image).tolist() == [[0, 127, 255]]  # truncated
    rgb = grid_image()
    assert transforms.ToPILImage()(rgb).mode == "RGB"
    back = transforms.ToPILImage()(transforms.ToTensor()(rgb))
    assert np.array_equal(np.asarray(back), rgb)
    assert transforms.ToPILImage()(np.zeros((2, 2, 4), dtype=np.uint8)).mode == "RGBA"
    with pytest.raises(ValueError, match="pic should be 2/3 dimensional. Got 4 dimensions"):
        transforms.ToPILImage()(numbanet.zeros(1, 1, 2, 2))


def test_pil_to_tensor_and_convert_image_dtype_stated_values():
    image = Image.fromarray(np.array([[0, 128, 255]], dtype=np.uint8))
    as_uint8 = transforms.PILToTensor()(image)
    assert as_uint8.dtype == numbanet.uint8 and as_uint8.tolist() == [[[0, 128, 255]]]
    as_float = transforms.ConvertImageDtype(numbanet.float32)(as_uint8)
    np.testing.assert_allclose(as_float.numpy(), [[[0.0, 128 / 255, 1.0]]], rtol=1e-7)
    # float -> uint8: x * 255.999 truncated (PyTorch 2.13 + torchvision give [0, 128, 255]).
    back = transforms.ConvertImageDtype(numbanet.uint8)(as_float)
    assert back.tolist() == [[[0, 128, 255]]]
    edges = numbanet.tensor([0.0, 0.0039, 0.004, 0.999, 1.0])
    assert transforms.ConvertImageDtype(numbanet.uint8)(edges).tolist() == [0, 0, 1, 255, 255]


# ---------------------------------------------------------------------- utils and io


def test_make_grid_stated_layout():
    images = numbanet.from_numpy(np.arange(1, 4, dtype=np.float32).reshape(3, 1, 1, 1)
                                 * np.ones((3, 1, 2, 2), dtype=np.float32))
    grid = utils.make_grid(images, nrow=2, padding=1, pad_value=9)
    # 2 columns, 2 rows of 2x2 cells with 1 pixel between and around: 3 x 7 x 7, grey -> RGB.
    assert grid.shape == (3, 7, 7)
    expected = np.array([
        [9, 9, 9, 9, 9, 9, 9],
        [9, 1, 1, 9, 2, 2, 9],
        [9, 1, 1, 9, 2, 2, 9],
        [9, 9, 9, 9, 9, 9, 9],
        [9, 3, 3, 9, 9, 9, 9],
        [9, 3, 3, 9, 9, 9, 9],
        [9, 9, 9, 9, 9, 9, 9],
    ], dtype=np.float32)
    for channel in range(3):
        np.testing.assert_array_equal(grid.numpy()[channel], expected)
    assert utils.make_grid(images).shape == (3, 6, 14)  # padding 2: 2 + 3 * (2 + 2) wide
    assert utils.make_grid(list(images), nrow=1, padding=0).shape == (3, 6, 2)
    single = utils.make_grid(images[0])
    assert single.shape == (3, 2, 2)  # one image: returned as it is (made RGB), no padding


def test_make_grid_normalize_and_value_range():
    images = numbanet.from_numpy(np.array([[[[-1.0, 0.0], [1.0, 3.0]]],
                                           [[[0.0, 1.0], [2.0, 2.0]]]], dtype=np.float32))
    grid = utils.make_grid(images, padding=0, normalize=True)
    np.testing.assert_allclose(grid.numpy()[0], [[0, 0.25, 0.25, 0.5], [0.5, 1, 0.75, 0.75]])
    clipped = utils.make_grid(images, padding=0, normalize=True, value_range=(0.0, 2.0))
    np.testing.assert_allclose(clipped.numpy()[0], [[0, 0, 0, 0.5], [0.5, 1, 1, 1]])
    each = utils.make_grid(images, padding=0, normalize=True, scale_each=True)
    np.testing.assert_allclose(each.numpy()[0], [[0, 0.25, 0, 0.5], [0.5, 1, 1, 1]])
    with pytest.raises(TypeError, match="value_range has to be a tuple"):
        utils.make_grid(images, normalize=True, value_range=[0, 1])
    with pytest.raises(TypeError, match="tensor or list of tensors expected"):
        utils.make_grid(np.zeros((2, 3, 4, 4)))


def test_save_image_and_read_image_round_trip(tmp_path):
    values = np.random.default_rng(3).random((2, 3, 4, 5), dtype=np.float32)
    path = tmp_path / "grid.png"
    utils.save_image(numbanet.from_numpy(values), path, padding=1)
    loaded = io.read_image(str(path))
    assert loaded.dtype == numbanet.uint8 and loaded.shape == (3, 6, 13)
    expected = np.clip(values * 255 + 0.5, 0, 255).astype(np.uint8)
    np.testing.assert_array_equal(loaded.numpy()[:, 1:5, 1:6], expected[0])
    np.testing.assert_array_equal(loaded.numpy()[:, 1:5, 7:12], expected[1])
    assert loaded.numpy()[:, 0].max() == 0  # the padding


def test_read_image_modes(tmp_path):
    rgba = np.random.default_rng(4).integers(0, 256, (3, 4, 4), dtype=np.uint8)
    Image.fromarray(rgba, "RGBA").save(tmp_path / "a.png")
    Image.fromarray(rgba[:, :, 0], "L").save(tmp_path / "l.png")
    unchanged = io.read_image(tmp_path / "a.png")
    assert unchanged.shape == (4, 3, 4)
    np.testing.assert_array_equal(unchanged.numpy(), rgba.transpose(2, 0, 1))
    rgb = io.read_image(tmp_path / "a.png", io.ImageReadMode.RGB)
    assert rgb.shape == (3, 3, 4)
    grey = io.read_image(tmp_path / "l.png")
    assert grey.shape == (1, 3, 4) and np.array_equal(grey.numpy()[0], rgba[:, :, 0])
    assert io.read_image(tmp_path / "l.png", mode=io.ImageReadMode.RGB).shape == (3, 3, 4)
    assert io.ImageReadMode.RGBA is io.ImageReadMode.RGB_ALPHA
    data = io.read_file(tmp_path / "a.png")
    assert np.array_equal(io.decode_image(data).numpy(), unchanged.numpy())
    (tmp_path / "not.png").write_bytes(b"hello")
    with pytest.raises(RuntimeError, match="Unsupported image file"):
        io.read_image(tmp_path / "not.png")


# ---------------------------------------------------------------------- models


class StandInBatchNorm2d(nn.Module):
    """BatchNorm2d's parameters and buffers with an identity forward, for name checks only
    where numbanet has no nn.BatchNorm2d yet."""

    def __init__(self, num_features):
        super().__init__()
        self.weight = nn.Parameter(numbanet.ones(num_features))
        self.bias = nn.Parameter(numbanet.zeros(num_features))
        self.register_buffer("running_mean", numbanet.zeros(num_features))
        self.register_buffer("running_var", numbanet.ones(num_features))
        self.register_buffer("num_batches_tracked", numbanet.tensor(0))

    def forward(self, x):
        return x


NORM = getattr(nn, "BatchNorm2d", StandInBatchNorm2d)
BN_SUFFIXES = ["weight", "bias", "running_mean", "running_var", "num_batches_tracked"]


def resnet18_stated_state_dict() -> dict[str, tuple]:
    """torchvision's resnet18().state_dict() shapes, written out stage by stage."""
    shapes = {"conv1.weight": (64, 3, 7, 7)}
    shapes.update({f"bn1.{suffix}": (64,) if suffix != "num_batches_tracked" else ()
                   for suffix in BN_SUFFIXES})
    for stage, (channels, previous) in enumerate([(64, 64), (128, 64), (256, 128), (512, 256)],
                                                 start=1):
        for block in (0, 1):
            in_channels = previous if block == 0 else channels
            prefix = f"layer{stage}.{block}"
            shapes[f"{prefix}.conv1.weight"] = (channels, in_channels, 3, 3)
            for suffix in BN_SUFFIXES:
                shapes[f"{prefix}.bn1.{suffix}"] = (channels,) if suffix[0] != "n" else ()
            shapes[f"{prefix}.conv2.weight"] = (channels, channels, 3, 3)
            for suffix in BN_SUFFIXES:
                shapes[f"{prefix}.bn2.{suffix}"] = (channels,) if suffix[0] != "n" else ()
            if block == 0 and stage > 1:
                shapes[f"{prefix}.downsample.0.weight"] = (channels, in_channels, 1, 1)
                for suffix in BN_SUFFIXES:
                    shape = (channels,) if suffix[0] != "n" else ()
                    shapes[f"{prefix}.downsample.1.{suffix}"] = shape
    shapes["fc.weight"] = (1000, 512)
    shapes["fc.bias"] = (1000,)
    return shapes


def test_resnet18_names_shapes_and_parameter_count_as_torchvision():
    model = models.resnet18(norm_layer=NORM)
    stated = resnet18_stated_state_dict()
    state = model.state_dict()
    assert list(state) == list(stated)  # same names, same order
    assert {name: tuple(value.shape) for name, value in state.items()} == stated
    assert len(list(model.parameters())) == 62
    assert sum(p.numel() for p in model.parameters()) == 11_689_512  # torchvision's count
    assert models.resnet18(norm_layer=NORM, num_classes=10).fc.weight.shape == (10, 512)


def test_resnet_init_as_torchvision():
    numbanet.manual_seed(0)
    model = models.resnet18(norm_layer=NORM)
    # kaiming_normal_(mode="fan_out", relu): std = sqrt(2 / (out_channels * 3 * 3))
    weight = model.layer3[0].conv1.weight.detach().numpy()
    assert abs(weight.std() - np.sqrt(2 / (256 * 9))) < 0.03 * np.sqrt(2 / (256 * 9))
    assert abs(weight.mean()) < 1e-3
    fc = model.fc.weight.detach().numpy()  # nn.Linear's default: U(-1/sqrt(512), 1/sqrt(512))
    assert fc.max() <= 1 / np.sqrt(512) and fc.min() >= -1 / np.sqrt(512)
    assert model.bn1.weight.tolist() == [1.0] * 64
    zero = models.resnet18(norm_layer=NORM, zero_init_residual=True)
    assert zero.layer1[0].bn2.weight.tolist() == [0.0] * 64


@pytest.mark.slow
def test_resnet18_forward_shape():
    numbanet.manual_seed(0)
    model = models.resnet18(norm_layer=NORM, num_classes=10)
    out = model(numbanet.randn(2, 3, 32, 32))
    assert out.shape == (2, 10) and np.isfinite(out.detach().numpy()).all()


@pytest.mark.skipif(not hasattr(nn, "BatchNorm2d"),
                    reason="nn.BatchNorm2d is not in numbanet yet (another branch adds it)")
def test_resnet18_default_norm_layer_is_batch_norm():
    assert isinstance(models.resnet18().bn1, nn.BatchNorm2d)


@pytest.mark.skipif(hasattr(nn, "BatchNorm2d"), reason="numbanet has nn.BatchNorm2d")
def test_resnet18_without_batch_norm_says_so():
    with pytest.raises(NotImplementedError, match="needs nn.BatchNorm2d"):
        models.resnet18()


def test_adaptive_avg_pool2d_of_any_size_stated_values():
    # Windows floor(i * 5 / 3) .. ceil((i + 1) * 5 / 3): [0, 2), [1, 4), [3, 5).
    row = numbanet.tensor([[[[1.0, 2.0, 3.0, 4.0, 5.0]]]])
    pooled = nn.functional.adaptive_avg_pool2d(row, (1, 3))
    np.testing.assert_allclose(pooled.numpy(), [[[[1.5, 3.0, 4.5]]]], rtol=1e-6)
    single = nn.AdaptiveAvgPool2d((7, 7))(numbanet.tensor([[[[2.5]]]]))
    assert single.shape == (1, 1, 7, 7) and single.numpy().min() == single.numpy().max() == 2.5


@needs_torch
@pytest.mark.parametrize(("shape", "size"), [((2, 3, 1, 1), (7, 7)), ((1, 2, 5, 7), (3, 4)),
                                             ((2, 10, 9), (4, 2)), ((1, 1, 6, 6), (6, 4))])
def test_adaptive_avg_pool2d_matches_torch_values_and_gradients(shape, size):
    values = np.random.default_rng(6).standard_normal(shape).astype(np.float32)
    ours = numbanet.tensor(values, requires_grad=True)
    theirs = torch.tensor(values, requires_grad=True)
    out = nn.functional.adaptive_avg_pool2d(ours, size)
    expected = torch.nn.functional.adaptive_avg_pool2d(theirs, size)
    np.testing.assert_allclose(out.detach().numpy(), expected.detach().numpy(), atol=1e-6)
    weights = np.random.default_rng(7).standard_normal(tuple(expected.shape)).astype(np.float32)
    (out * numbanet.from_numpy(weights)).sum().backward()
    (expected * torch.from_numpy(weights)).sum().backward()
    np.testing.assert_allclose(ours.grad.numpy(), theirs.grad.numpy(), rtol=1e-5, atol=1e-6)


@pytest.mark.slow
def test_vgg11_names_shapes_and_count_as_torchvision():
    model = models.vgg11()
    stated = {}
    convolutions = [(0, 64, 3), (3, 128, 64), (6, 256, 128), (8, 256, 256), (11, 512, 256),
                    (13, 512, 512), (16, 512, 512), (18, 512, 512)]
    for index, out_channels, in_channels in convolutions:
        stated[f"features.{index}.weight"] = (out_channels, in_channels, 3, 3)
        stated[f"features.{index}.bias"] = (out_channels,)
    for index, shape in ((0, (4096, 25088)), (3, (4096, 4096)), (6, (1000, 4096))):
        stated[f"classifier.{index}.weight"] = shape
        stated[f"classifier.{index}.bias"] = (shape[0],)
    assert {name: tuple(p.shape) for name, p in model.state_dict().items()} == stated
    assert list(model.state_dict()) == list(stated)
    assert sum(p.numel() for p in model.parameters()) == 132_863_336
    assert abs(model.classifier[0].weight.detach().numpy().std() - 0.01) < 1e-4
    assert model.features[0].bias.tolist() == [0.0] * 64


@pytest.mark.slow
def test_vgg11_forward_at_224_pixels():
    numbanet.manual_seed(0)
    model = models.vgg11(num_classes=5)
    model.eval()
    out = model(numbanet.randn(1, 3, 224, 224))
    assert out.shape == (1, 5)


@pytest.mark.slow
def test_vgg11_forward_on_cifar_sized_images():
    numbanet.manual_seed(0)
    model = models.vgg11(num_classes=10)  # 32 px: 1x1 features, repeated to 7x7 as torchvision
    assert model(numbanet.randn(2, 3, 32, 32)).shape == (2, 10)


def test_weights_load_from_the_torchvision_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    with pytest.raises(FileNotFoundError) as raised:
        models.resnet18(weights="DEFAULT", norm_layer=NORM)
    folder = tmp_path / "hub" / "checkpoints"
    message = str(raised.value)
    assert str(folder / "resnet18-f37072fd.pth") in message
    assert "https://download.pytorch.org/models/resnet18-f37072fd.pth" in message
    numbanet.manual_seed(1)
    source = models.resnet18(norm_layer=NORM)
    folder.mkdir(parents=True)
    numbanet.save(source.state_dict(), str(folder / "resnet18-f37072fd.pth"))
    loaded = models.resnet18(weights=models.ResNet18_Weights.IMAGENET1K_V1, norm_layer=NORM)
    assert np.array_equal(loaded.fc.weight.detach().numpy(), source.fc.weight.detach().numpy())
    assert np.array_equal(loaded.layer4[1].conv2.weight.detach().numpy(),
                          source.layer4[1].conv2.weight.detach().numpy())
    with pytest.raises(ValueError, match="'num_classes' expected value 1000 but got 10"):
        models.resnet18(weights="DEFAULT", num_classes=10, norm_layer=NORM)
    with pytest.raises(ValueError, match="Failed to find Weights NOPE"):
        models.resnet18(weights="NOPE")
    assert models.ResNet18_Weights.DEFAULT is models.ResNet18_Weights.IMAGENET1K_V1
    assert models.VGG11_Weights.DEFAULT.url.endswith("vgg11-8a719046.pth")


def test_weights_transforms_prepare_an_imagenet_input():
    image = np.random.default_rng(5).integers(0, 256, (300, 400, 3), dtype=np.uint8)
    prepared = models.ResNet18_Weights.DEFAULT.transforms()(image)
    assert prepared.shape == (3, 224, 224) and prepared.dtype == numbanet.float32
