"""Pretrained weights for ``vision.models``, from the local torchvision cache only.

torchvision downloads ``https://download.pytorch.org/models/<file>`` into
``$TORCH_HOME/hub/checkpoints/<file>`` (``TORCH_HOME`` defaults to ``~/.cache/torch``). numbanet
reads the file from there — a folder torchvision already filled is reused — and never
downloads: without the file, the error says which file to put where.
"""

from __future__ import annotations

import os
from enum import Enum
from typing import Any

import numbanet


def checkpoints_folder() -> str:
    """``$TORCH_HOME/hub/checkpoints``, or ``~/.cache/torch/hub/checkpoints`` (as torch.hub)."""
    torch_home = os.environ.get("TORCH_HOME") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "torch"
    )
    return os.path.join(os.path.expanduser(torch_home), "hub", "checkpoints")


class Weights:
    """One set of pretrained weights: where torchvision publishes them, and how inputs were
    prepared when they were trained (``transforms()``)."""

    def __init__(self, url: str, num_classes: int = 1000, **meta: Any):
        self.url = url
        self.meta = {"num_classes": num_classes, **meta}

    @property
    def file_name(self) -> str:
        return self.url.rsplit("/", 1)[-1]

    def get_state_dict(self, progress: bool = True, check_hash: bool = False) -> dict:
        """The state dict from the torchvision cache; a clear error when the file is absent."""
        path = os.path.join(checkpoints_folder(), self.file_name)
        if not os.path.isfile(path):
            raise FileNotFoundError(
                f"pretrained weights {self.file_name} not found: numbanet does not download "
                f"them. Download {self.url} and put it at {path} (the torchvision cache; set "
                "TORCH_HOME to use another folder), or pass weights=None for a randomly "
                "initialised model."
            )
        return numbanet.load(path, map_location="cpu")

    def transforms(self):
        """ImageNet evaluation preprocessing: resize to 256, centre crop 224, scale to [0, 1],
        normalise with ImageNet's channel means and standard deviations."""
        from numbanet.vision import transforms

        return transforms.Compose([
            transforms.Resize(256),
            transforms.CenterCrop(224),
            transforms.ToTensor(),
            transforms.Normalize(mean=[0.485, 0.456, 0.406], std=[0.229, 0.224, 0.225]),
        ])


class WeightsEnum(Enum):
    """Named weights of one architecture, as torchvision's ``ResNet18_Weights`` enums;
    ``DEFAULT`` names the best ones. ``ResNet18_Weights.IMAGENET1K_V1.url``."""

    @property
    def url(self) -> str:
        return self.value.url

    @property
    def meta(self) -> dict:
        return self.value.meta

    def get_state_dict(self, *args: Any, **kwargs: Any) -> dict:
        return self.value.get_state_dict(*args, **kwargs)

    def transforms(self):
        return self.value.transforms()

    @classmethod
    def verify(cls, weights):
        """``None``, a member, or a member's name (``"DEFAULT"``, ``"IMAGENET1K_V1"``)."""
        if weights is None or isinstance(weights, cls):
            return weights
        if isinstance(weights, str):
            try:
                return cls[weights.replace(f"{cls.__name__}.", "")]
            except KeyError:
                raise ValueError(f"Failed to find Weights {weights} in {cls.__name__}.") from None
        raise TypeError(
            f"Invalid Weight class provided; expected {cls.__name__} but received "
            f"{type(weights).__name__}."
        )


def legacy_pretrained(weights, kwargs: dict, default) -> Any:
    """torchvision's old ``pretrained=True`` argument: the default weights."""
    if kwargs.pop("pretrained", False):
        if weights is not None:
            raise ValueError("pretrained and weights cannot be given together")
        return default
    return weights


def load_weights(model, weights) -> None:
    """Copy ``weights``' tensors into ``model`` (names and shapes must match exactly)."""
    model.load_state_dict(weights.get_state_dict())


def check_num_classes(weights, kwargs: dict) -> None:
    """Pretrained weights fix the classifier's size: ``num_classes`` must agree."""
    if weights is None:
        return
    expected = weights.meta["num_classes"]
    if kwargs.setdefault("num_classes", expected) != expected:
        raise ValueError(
            f"The parameter 'num_classes' expected value {expected} but got "
            f"{kwargs['num_classes']} instead."
        )
