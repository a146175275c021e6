"""A lesson's training step, captured by ``numbanet.compile``: what a JIT turns it into.

The stepper (``numbanet step``, key ``j``) shows a recorded iteration as Python-level
nodes: each forward op, each backward node, the optimizer's update. A JIT sees the same
iteration differently: as one flat list of kernel calls, run in order, with no Tensor,
autograd node or op dispatch between them. :func:`capture_lesson_step` compiles the
lesson's step —

.. code-block:: python

    def step(inputs, targets):
        optimizer.zero_grad()
        loss = criterion(model(inputs), targets)
        loss.backward()
        optimizer.step()
        return loss

— calls it twice (the first call runs eagerly, the second is captured) on one batch of the
lesson, and returns the captured list as plain data (:class:`StepCapture`), or the reason
the capture was refused (``.item()`` inside the step, Python control flow on a tensor's
value). The lesson is left as it was: its parameters, gradients, optimizer state and the
random generator are put back afterwards, so the stepper's next iteration is the one it
would have recorded anyway.
"""

from __future__ import annotations

import copy
import warnings
from dataclasses import dataclass, field

from numbanet import random as _random
from numbanet import trace as _trace
from numbanet.autograd import no_grad
from numbanet.jit.compiled import compile  # noqa: A004 - torch.compile's name


@dataclass
class StepCapture:
    """One lesson step as ``numbanet.compile`` captured it, as plain data.

    ``launches`` is exactly the compiled step's ``.launches`` (one dict per kernel call:
    ``index``, ``function``, ``kernels``, ``phase``, ``inputs``, ``output``, ``replay``,
    ``seconds``) and ``listing`` its ``.listing()``; ``refused`` is the message saying why
    the step could not be captured (then ``launches`` is empty).
    """

    lesson: str
    iteration: int
    launches: list[dict] = field(default_factory=list)
    listing: str = ""
    refused: str | None = None

    def as_dict(self) -> dict:
        return {"lesson": self.lesson, "iteration": self.iteration,
                "launches": [dict(launch) for launch in self.launches],
                "refused": self.refused}


def lesson_step(lesson):
    """The training step of ``lesson`` (a :class:`numbanet.lesson.Lesson`) as one function
    of ``(inputs, targets)``: what ``numbanet.lesson.record_iteration`` runs, uncompiled."""
    model, criterion, optimizer = lesson.model, lesson.criterion, lesson.optimizer

    def step(inputs, targets):
        optimizer.zero_grad()
        outputs = model(inputs)
        loss = criterion(outputs, targets)
        loss.backward()
        optimizer.step()
        return loss

    step.__qualname__ = step.__name__ = f"the training step of {lesson.title!r}"
    return step


def capture_lesson_step(lesson, iteration: int = 0) -> StepCapture:
    """Compile ``lesson``'s step, run it twice on ``lesson.batch(iteration)`` and return
    what the second call captured (or why it was refused). The lesson's state is restored
    afterwards; an exception of the lesson's own code propagates (after the restore)."""
    if _trace.active() is not None:
        raise RuntimeError("cannot capture a step while a trace records (numbanet.compile "
                           "runs eagerly then); wait for the recording to finish")
    compiled = compile(lesson_step(lesson))
    saved = _save(lesson)
    try:
        inputs, targets = lesson.batch(iteration)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # a refusal is reported in the result
            compiled(inputs, targets)  # eager: compiles the kernels, makes optimizer state
            if compiled.refused is None:
                compiled(inputs, targets)  # captured
    finally:
        _restore(lesson, saved)
    return StepCapture(lesson.title, iteration, compiled.launches,
                       compiled.listing() if compiled.refused is None else "",
                       compiled.refused)


def _save(lesson) -> dict:
    """Copies of everything a step changes: parameters and buffers, gradients, optimizer
    state and hyper-parameters, the default random generator."""
    model, optimizer = lesson.model, lesson.optimizer
    tensors = {**dict(model.named_parameters()), **dict(model.named_buffers())}
    state = optimizer.state_dict()
    params = [param for group in optimizer.param_groups for param in group["params"]]
    return {
        "tensors": {name: tensor.detach().clone() for name, tensor in tensors.items()},
        "grads": [(param, param.grad, None if param.grad is None else param.grad.clone())
                  for param in (*model.parameters(), *params)],
        "optimizer": {"param_groups": copy.deepcopy(state["param_groups"]),
                      "state": {index: {key: value.clone() if hasattr(value, "clone")
                                        else copy.deepcopy(value)
                                        for key, value in entry.items()}
                                for index, entry in state["state"].items()}},
        "random": copy.deepcopy(_random.default_generator().numpy.bit_generator.state),
    }


def _restore(lesson, saved: dict) -> None:
    model = lesson.model
    tensors = {**dict(model.named_parameters()), **dict(model.named_buffers())}
    with no_grad():
        for name, value in saved["tensors"].items():
            tensors[name].copy_(value)
        for param, grad, values in saved["grads"]:
            param.grad = grad  # the same tensor object (or None), with the same values
            if grad is not None:
                grad.copy_(values)
    lesson.optimizer.load_state_dict(saved["optimizer"])
    _random.default_generator().numpy.bit_generator.state = saved["random"]
