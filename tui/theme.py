"""Colours shared by the stepper's widgets: one per phase, the same in every panel.

Forward ops are blue, the loss magenta, backward nodes orange and optimizer updates green,
so a glance at the timeline says which part of the iteration a node belongs to.
"""

PHASE_STYLES = {
    "forward": "bold dodger_blue1",
    "loss": "bold magenta",
    "backward": "bold dark_orange",
    "optimizer": "bold green3",
}


def phase_style(phase: str) -> str:
    """The Rich style of ``phase`` (plain text for a phase this file does not know)."""
    return PHASE_STYLES.get(phase, "")
