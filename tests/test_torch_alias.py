"""``numbanet run``: unmodified PyTorch scripts (``import torch``) run on numbanet, and a name
numbanet lacks ends the run with one line naming the PyTorch API and the script's line."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

import numbanet
from numbanet import torch_alias
from numbanet.runner import run_script


def write(tmp_path, name: str, source: str):
    path = tmp_path / name
    path.write_text(textwrap.dedent(source))
    return path


def test_imports_of_torch_and_torchvision_are_numbanet_modules(tmp_path, capsys):
    script = write(tmp_path, "imports.py", """
        import sys
        import torch
        import torch.nn as nn
        import torch.nn.functional as F
        from torch import optim
        from torch.utils.data import DataLoader, TensorDataset
        import torchvision
        from torchvision import datasets, transforms
        from torchvision.transforms import ToTensor

        print("argv", sys.argv[1:], __name__)
        print("same", nn.Linear is sys.modules["numbanet"].nn.Linear,
              DataLoader is sys.modules["numbanet.utils.data"].DataLoader,
              ToTensor is transforms.ToTensor,
              datasets.MNIST is sys.modules["numbanet.vision.datasets"].MNIST,
              optim.SGD is sys.modules["numbanet.optim"].SGD)
        print("value", F.relu(torch.tensor([-1.0, 2.0])).tolist())
        print("isinstance", isinstance(torch.ones(2), torch.Tensor))
    """)
    assert run_script(str(script), ["--epochs", "1"]) == 0
    out = capsys.readouterr().out
    assert "argv ['--epochs', '1'] __main__" in out
    assert "same True True True True True" in out
    assert "value [0.0, 2.0]" in out
    assert "isinstance True" in out


def test_the_alias_is_gone_after_the_run_and_argv_is_restored(tmp_path):
    script = write(tmp_path, "plain.py", "import torch\nimport torch.nn\nx = torch.zeros(1)\n")
    argv = sys.argv[:]
    assert run_script(str(script), ["a"]) == 0
    assert sys.argv == argv
    assert not any(isinstance(finder, torch_alias.TorchAliasFinder) for finder in sys.meta_path)
    loaded = sys.modules.get("torch")
    assert loaded is None or not isinstance(loaded, torch_alias.TorchModule)
    # the stand-ins' module metadata is their own: numbanet's modules keep theirs
    assert numbanet.__spec__.name == "numbanet" and numbanet.__package__ == "numbanet"
    assert numbanet.nn.__spec__.name == "numbanet.nn"


def test_real_pytorch_already_imported_is_set_aside_and_restored(tmp_path, capsys):
    real = pytest.importorskip("torch")
    script = write(tmp_path, "which.py",
                   "import torch\nprint('numbanet?', torch.ones(1).__class__.__module__)\n")
    assert run_script(str(script), []) == 0
    assert "numbanet? numbanet.tensor" in capsys.readouterr().out
    assert sys.modules["torch"] is real


def test_setting_a_flag_through_the_alias_sets_numbanets(tmp_path):
    script = write(tmp_path, "flags.py", """
        import torch
        torch.backends.cudnn.benchmark = True
        assert torch.backends.cudnn.benchmark is True
    """)
    try:
        assert run_script(str(script), []) == 0
        assert numbanet.backends.cudnn.benchmark is True
    finally:
        numbanet.backends.cudnn.benchmark = False


@pytest.mark.parametrize(("source", "expected"), [
    ("import torch\ny = torch.fft.rfft(torch.ones(4))\n",
     "missing.py:2: torch.fft.rfft is not available in numbanet"),
    ("import torch\nx = torch.ones(4)\nz = x.lgamma_()\n",
     "missing.py:3: torch.Tensor.lgamma_ is not available in numbanet"),
    ("import torch.distributions as D\n",
     "missing.py:1: torch.distributions is not available in numbanet"),
    ("from torchvision.transforms import v2\n",
     "missing.py:1: torchvision.transforms.v2 is not available in numbanet"),
    ("import torch\nlayer = torch.nn.Transformer(d_model=8)\n",
     "missing.py:2: torch.nn.Transformer is not available in numbanet"),
])
def test_a_missing_name_is_one_clear_line(tmp_path, capsys, source, expected):
    script = write(tmp_path, "missing.py", source)
    assert run_script(str(script), []) == 1
    err = capsys.readouterr().err
    assert err.startswith("numbanet run: " + expected), err
    assert "Traceback" not in err and err.count("\n") == 1


def test_hasattr_and_import_error_behave_as_under_pytorch(tmp_path, capsys):
    script = write(tmp_path, "probe.py", """
        import torch
        print("xpu", hasattr(torch, "xpu"))
        try:
            import torch.fft
        except ImportError as error:
            print("import error", type(error).__name__)
    """)
    assert run_script(str(script), []) == 0
    out = capsys.readouterr().out
    assert "xpu False" in out and "import error MissingTorchModule" in out


def test_other_errors_print_the_scripts_traceback(tmp_path, capsys):
    script = write(tmp_path, "broken.py", """
        import torch

        def scale(x):
            return x / undefined_name

        scale(torch.ones(2))
    """)
    assert run_script(str(script), []) == 1
    err = capsys.readouterr().err
    assert err.startswith("Traceback (most recent call last):")
    assert "broken.py\", line 7" in err and "NameError: name 'undefined_name'" in err
    assert "runner.py" not in err and "launch.py" not in err


def test_a_users_attribute_error_is_not_called_a_missing_api(tmp_path, capsys):
    script = write(tmp_path, "typo.py", """
        import torch
        class Net(torch.nn.Module):
            pass
        Net().weights_typo
    """)
    assert run_script(str(script), []) == 1
    err = capsys.readouterr().err
    assert "AttributeError" in err and "not available in numbanet" not in err


def test_system_exit_status_is_the_scripts(tmp_path):
    script = write(tmp_path, "exits.py", "import torch\nraise SystemExit(3)\n")
    with pytest.raises(SystemExit) as stop:
        run_script(str(script), [])
    assert stop.value.code == 3


def test_numbanet_run_and_python_dash_m_numbanet_run(tmp_path):
    script = write(tmp_path, "tiny.py", """
        import sys
        import torch
        print(torch.tensor([1.0, 2.0]).sum().item(), sys.argv[1:])
    """)
    for command in ([sys.executable, "-m", "numbanet", "run", str(script), "x"],
                    [sys.executable, "-m", "numbanet.cli", "run", str(script), "x"]):
        finished = subprocess.run(command, capture_output=True, text=True, timeout=300)
        assert finished.returncode == 0, finished.stderr
        assert "3.0 ['x']" in finished.stdout
    missing = write(tmp_path, "lacks.py", "import torch\ntorch.fft.fft(torch.ones(2))\n")
    finished = subprocess.run([sys.executable, "-m", "numbanet", "run", str(missing)],
                              capture_output=True, text=True, timeout=300)
    assert finished.returncode == 1
    assert finished.stderr.strip().endswith(
        "lacks.py:2: torch.fft.fft is not available in numbanet (numbanet implements "
        "PyTorch's beginner API; this name is not part of it yet)")


def test_name_mapping_both_ways():
    assert torch_alias.numbanet_name("torch") == "numbanet"
    assert torch_alias.numbanet_name("torch.utils.data") == "numbanet.utils.data"
    assert torch_alias.numbanet_name("torchvision.datasets") == "numbanet.vision.datasets"
    assert torch_alias.numbanet_name("torchaudio") is None
    assert torch_alias.numbanet_name("torchy") is None
    assert torch_alias.torch_name("numbanet.vision.transforms") == "torchvision.transforms"
    assert torch_alias.public_torch_name(numbanet.nn.Linear) == "torch.nn.Linear"
    assert torch_alias.public_torch_name(numbanet.Tensor) == "torch.Tensor"
