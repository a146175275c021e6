"""Utilities, as ``torch.utils``: ``numbanet.utils.data``."""

from numbanet.utils import data

__all__ = ["data"]
