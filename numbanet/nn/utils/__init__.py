"""``numbanet.nn.utils``: helpers around training, as ``torch.nn.utils``."""

from numbanet.nn.utils.clip_grad import clip_grad_norm_, clip_grad_value_, get_total_norm

__all__ = ["clip_grad_norm_", "clip_grad_value_", "get_total_norm"]
