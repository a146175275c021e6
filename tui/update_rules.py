"""The optimizers' update rules as PyTorch's documentation writes them, with numbers.

``torch.optim``'s documentation gives each optimizer as an algorithm (``g_t``, ``b_t``,
``m_t``, ``v_t``, ``θ_t``, ...). :func:`worked_update` takes one element of one parameter,
recorded with the numbers its step read and wrote (``trace.metadata["optimizer_example"]``,
see :mod:`numbanet.tui.probe`), and walks that algorithm line by line in float64: each
line is the rule, then the rule with the numbers plugged in, then its value. The last line
compares the result with what the optimizer's kernel actually wrote (float32).

Supported: SGD (momentum, dampening, Nesterov, weight decay, maximize), Adam and AdamW
(m, v, bias corrections, step count, amsgrad), RMSprop (centered, momentum). Others get
before → after only.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from .probe import OPTIMIZER_EXAMPLE


@dataclass
class RuleLine:
    """One line of the algorithm: ``rule`` as documented, ``numbers`` with values plugged in,
    ``value`` the result (None for a line that only chooses a branch)."""

    rule: str
    numbers: str = ""
    value: float | None = None


@dataclass
class WorkedUpdate:
    """An optimizer step on one element, line by line."""

    optimizer: str
    parameter: str
    index: list[int]
    before: float = math.nan  # θ_(t-1)
    lines: list[RuleLine] = field(default_factory=list)
    computed: float = math.nan  # θ_t by the documented rule, in float64
    recorded: float = math.nan  # θ_t the kernel wrote
    state_computed: dict[str, float] = field(default_factory=dict)  # b_t, m_t, v_t, ...
    state_recorded: dict[str, float] = field(default_factory=dict)

    @property
    def agrees(self) -> bool:
        """The documented rule and the kernel agree to float32 precision."""
        return math.isclose(self.computed, self.recorded, rel_tol=1e-5, abs_tol=1e-6)


def n(value: float) -> str:
    """A number as the pane prints it: 6 significant digits."""
    return f"{value:.6g}"


def worked_update(optimizer: str, example: dict) -> WorkedUpdate | None:
    """The documented rule of ``optimizer`` applied to one recorded element (one entry of
    ``optimizer_example["parameters"]``); None for an element without numbers."""
    if example.get("zero_gradient") or "gradient" not in example:
        return None
    rule = RULES.get(optimizer)
    work = WorkedUpdate(optimizer, example["name"], example["index"],
                        before=example["before"], recorded=example["after"])
    if rule is None:
        work.lines.append(RuleLine(f"{optimizer}: no worked rule; θ_t = θ_(t-1) + update",
                                   f"{n(example['before'])} + "
                                   f"({n(example['after'] - example['before'])})",
                                   example["after"]))
        work.computed = example["after"]
        return work
    rule(work, example, example["hyper"], example.get("state_before", {}),
         example.get("state_after", {}))
    return work


def _weight_decay(work: WorkedUpdate, g: float, theta: float, decay: float) -> float:
    if decay == 0:
        return g
    g_new = g + decay * theta
    work.lines.append(RuleLine("g_t ← g_t + λ θ_(t-1)",
                               f"{n(g)} + {n(decay)} × {n(theta)}", g_new))
    return g_new


def _sgd(work, example, hyper, before, after) -> None:
    theta, g = example["before"], example["gradient"]
    mu, tau = hyper.get("momentum", 0), hyper.get("dampening", 0)
    gamma, decay = hyper["lr"], hyper.get("weight_decay", 0)
    work.lines.append(RuleLine("g_t ← ∇θ f_t(θ_(t-1))", "", g))
    g = _weight_decay(work, g, theta, decay)
    if mu != 0:
        if "momentum_buffer" in before:
            b_old = before["momentum_buffer"]
            b = mu * b_old + (1 - tau) * g
            work.lines.append(RuleLine("b_t ← μ b_(t-1) + (1 − τ) g_t",
                                       f"{n(mu)} × {n(b_old)} + (1 − {n(tau)}) × {n(g)}", b))
        else:
            b = g
            work.lines.append(RuleLine("b_t ← g_t   (t = 1)", n(g), b))
        work.state_computed["momentum_buffer"] = b
        if hyper.get("nesterov"):
            g_new = g + mu * b
            work.lines.append(RuleLine("g_t ← g_t + μ b_t   (nesterov)",
                                       f"{n(g)} + {n(mu)} × {n(b)}", g_new))
            g = g_new
        else:
            g = b
            work.lines.append(RuleLine("g_t ← b_t", n(b), b))
    _descend(work, theta, gamma, g, hyper.get("maximize", False))
    _state_recorded(work, after)


def _descend(work, theta, gamma, step, maximize=False) -> None:
    sign = "+" if maximize else "−"
    theta_new = theta + gamma * step if maximize else theta - gamma * step
    work.lines.append(RuleLine(f"θ_t ← θ_(t-1) {sign} γ g_t",
                               f"{n(theta)} {sign} {n(gamma)} × {n(step)}", theta_new))
    work.computed = theta_new


def _adam(work, example, hyper, before, after, decoupled=False) -> None:
    theta, g = example["before"], example["gradient"]
    gamma, decay, eps = hyper["lr"], hyper.get("weight_decay", 0), hyper["eps"]
    beta1, beta2 = hyper["betas"]
    t = int(after.get("step", before.get("step", 0) + 1))
    work.lines.append(RuleLine("g_t ← ∇θ f_t(θ_(t-1))", "", g))
    if hyper.get("maximize"):
        g = -g
        work.lines.append(RuleLine("g_t ← −g_t   (maximize)", "", g))
    if decoupled:
        if decay != 0:
            theta_decayed = theta - gamma * decay * theta
            work.lines.append(RuleLine("θ_t ← θ_(t-1) − γ λ θ_(t-1)   (decoupled decay)",
                                       f"{n(theta)} − {n(gamma)} × {n(decay)} × {n(theta)}",
                                       theta_decayed))
            theta = theta_decayed
    else:
        g = _weight_decay(work, g, theta, decay)
    m_old, v_old = before.get("exp_avg", 0.0), before.get("exp_avg_sq", 0.0)
    m = beta1 * m_old + (1 - beta1) * g
    v = beta2 * v_old + (1 - beta2) * g * g
    work.lines += [
        RuleLine("m_t ← β1 m_(t-1) + (1 − β1) g_t",
                 f"{n(beta1)} × {n(m_old)} + (1 − {n(beta1)}) × {n(g)}", m),
        RuleLine("v_t ← β2 v_(t-1) + (1 − β2) g_t²",
                 f"{n(beta2)} × {n(v_old)} + (1 − {n(beta2)}) × {n(g)}²", v),
    ]
    m_hat = m / (1 - beta1 ** t)
    work.lines.append(RuleLine("m̂_t ← m_t / (1 − β1^t)",
                               f"{n(m)} / (1 − {n(beta1)}^{t})", m_hat))
    work.state_computed.update(exp_avg=m, exp_avg_sq=v, step=float(t))
    v_used = v
    if hyper.get("amsgrad"):
        v_max_old = before.get("max_exp_avg_sq", 0.0)
        v_used = max(v_max_old, v)
        work.lines.append(RuleLine("v_t^max ← max(v_(t-1)^max, v_t)   (amsgrad)",
                                   f"max({n(v_max_old)}, {n(v)})", v_used))
        work.state_computed["max_exp_avg_sq"] = v_used
    v_hat = v_used / (1 - beta2 ** t)
    work.lines.append(RuleLine("v̂_t ← v_t / (1 − β2^t)",
                               f"{n(v_used)} / (1 − {n(beta2)}^{t})", v_hat))
    theta_new = theta - gamma * m_hat / (math.sqrt(v_hat) + eps)
    work.lines.append(RuleLine("θ_t ← θ_(t-1) − γ m̂_t / (√v̂_t + ε)",
                               f"{n(theta)} − {n(gamma)} × {n(m_hat)} / (√{n(v_hat)} + "
                               f"{n(eps)})", theta_new))
    work.computed = theta_new
    _state_recorded(work, after)


def _adamw(work, example, hyper, before, after) -> None:
    _adam(work, example, hyper, before, after, decoupled=True)


def _rmsprop(work, example, hyper, before, after) -> None:
    theta, g = example["before"], example["gradient"]
    gamma, decay, eps = hyper["lr"], hyper.get("weight_decay", 0), hyper["eps"]
    alpha, mu = hyper["alpha"], hyper.get("momentum", 0)
    work.lines.append(RuleLine("g_t ← ∇θ f_t(θ_(t-1))", "", g))
    g = _weight_decay(work, g, theta, decay)
    v_old = before.get("square_avg", 0.0)
    v = alpha * v_old + (1 - alpha) * g * g
    work.lines.append(RuleLine("v_t ← α v_(t-1) + (1 − α) g_t²",
                               f"{n(alpha)} × {n(v_old)} + (1 − {n(alpha)}) × {n(g)}²", v))
    work.state_computed["square_avg"] = v
    v_tilde = v
    if hyper.get("centered"):
        a_old = before.get("grad_avg", 0.0)
        a = alpha * a_old + (1 - alpha) * g
        v_tilde = v - a * a
        work.lines += [RuleLine("g_t^ave ← α g_(t-1)^ave + (1 − α) g_t",
                                f"{n(alpha)} × {n(a_old)} + (1 − {n(alpha)}) × {n(g)}", a),
                       RuleLine("ṽ_t ← v_t − (g_t^ave)²", f"{n(v)} − {n(a)}²", v_tilde)]
        work.state_computed["grad_avg"] = a
    if mu > 0:
        b_old = before.get("momentum_buffer", 0.0)
        b = mu * b_old + g / (math.sqrt(v_tilde) + eps)
        work.lines.append(RuleLine("b_t ← μ b_(t-1) + g_t / (√ṽ_t + ε)",
                                   f"{n(mu)} × {n(b_old)} + {n(g)} / (√{n(v_tilde)} + "
                                   f"{n(eps)})", b))
        work.state_computed["momentum_buffer"] = b
        theta_new = theta - gamma * b
        work.lines.append(RuleLine("θ_t ← θ_(t-1) − γ b_t",
                                   f"{n(theta)} − {n(gamma)} × {n(b)}", theta_new))
    else:
        theta_new = theta - gamma * g / (math.sqrt(v_tilde) + eps)
        work.lines.append(RuleLine("θ_t ← θ_(t-1) − γ g_t / (√ṽ_t + ε)",
                                   f"{n(theta)} − {n(gamma)} × {n(g)} / (√{n(v_tilde)} + "
                                   f"{n(eps)})", theta_new))
    work.computed = theta_new
    _state_recorded(work, after)


def _state_recorded(work: WorkedUpdate, after: dict) -> None:
    work.state_recorded = {key: float(after[key]) for key in work.state_computed
                           if key in after}


RULES = {"SGD": _sgd, "Adam": _adam, "AdamW": _adamw, "RMSprop": _rmsprop}

SYMBOLS = {  # what each symbol of the rules is, and which hyper-parameter or state holds it
    "SGD": "γ lr · μ momentum · τ dampening · λ weight_decay · b momentum_buffer",
    "Adam": "γ lr · β1, β2 betas · ε eps · λ weight_decay · m exp_avg · v exp_avg_sq · "
            "t step",
    "AdamW": "γ lr · β1, β2 betas · ε eps · λ weight_decay (decoupled) · m exp_avg · "
             "v exp_avg_sq · t step",
    "RMSprop": "γ lr · α alpha · ε eps · λ weight_decay · μ momentum · v square_avg · "
               "b momentum_buffer · g^ave grad_avg",
}


def worked_updates(trace_metadata: dict) -> list[WorkedUpdate]:
    """Every parameter's worked update in a trace's metadata (empty when not recorded)."""
    example = trace_metadata.get(OPTIMIZER_EXAMPLE)
    if not example:
        return []
    found = (worked_update(example["optimizer"], entry) for entry in example["parameters"])
    return [work for work in found if work is not None]
