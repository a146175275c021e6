"""Differentiable operations: one ``Function`` per op, forward and gradient side by side."""
