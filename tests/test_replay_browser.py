"""The HTML replay in a real browser: headless Chromium opens the file that ``numbanet
export`` wrote, presses keys like a student, and the DOM shows the expected node.

Chromium is driven through its DevTools pipes (``tests/chromium.py``, standard library
only). ``make test`` installs Debian's ``chromium`` package where it is missing; where no
Chromium can be found the test is skipped and says so.
"""

from __future__ import annotations

import re

import pytest
from chromium import Chromium, find_chromium

from numbanet import viz
from numbanet.cli import main as numbanet_main
from numbanet.lesson import load_lesson, record_iteration

CHROMIUM = find_chromium()
needs_chromium = pytest.mark.skipif(
    CHROMIUM is None, reason="no Chromium found (apt-get install chromium, or set $CHROMIUM): "
                             "the HTML replay is not tested in a browser here")


@pytest.fixture(autouse=True)
def webassembly_renderer(monkeypatch):
    monkeypatch.setenv(viz.RENDERER_VARIABLE, "wasm")


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """(trace, graph, path of step.html) written by ``numbanet export trace.json``."""
    folder = tmp_path_factory.mktemp("replay")
    trace = record_iteration(load_lesson(None), 0)
    trace.save(folder / "step.json")
    assert numbanet_main(["export", str(folder / "step.json"), "-o",
                          str(folder / "step.html")]) == 0
    return trace, viz.draw(trace), folder / "step.html"


def test_the_page_is_one_self_contained_file(exported):
    _, graph, page = exported
    text = page.read_text()
    assert text.count("<svg") == 1 and "<script" in text and "<style" in text
    # nothing fetched from anywhere: no src= or href= to another file or a server
    assert not re.search(r'\b(src|href)="(?!#)', text)
    assert "http://www.w3.org" in text  # SVG namespaces only
    assert not re.search(r"https?://(?!www\.w3\.org)", text)
    for name in (graph.node_names or {}).values():
        assert f'id="{name}"' in text


def current(page) -> tuple[int, str | None, str]:
    """(step number, id of the highlighted SVG node, title in the panel)."""
    return (int(page.evaluate("document.body.dataset.step")),
            page.evaluate("(document.querySelector('.current') || {}).id || null"),
            page.evaluate("document.getElementById('node-title').textContent"))


@needs_chromium
def test_keys_step_through_the_iteration_in_chromium(exported, tmp_path):
    trace, graph, path = exported
    events = [e for e in trace.events if e.phase in ("forward", "loss", "backward",
                                                     "optimizer")]

    def expected(index):
        event = events[index]
        return index, graph.node_names.get(event.node_id), f"{event.op} (n{event.node_id})"

    first_loss = next(i for i, e in enumerate(events) if e.phase == "loss")
    first_backward = next(i for i, e in enumerate(events) if e.phase == "backward")
    with Chromium(CHROMIUM) as browser:
        page = browser.open(path.as_uri())
        assert current(page) == expected(0)
        page.press("n")
        assert current(page) == expected(1)
        page.press("ArrowRight")
        page.press("ArrowRight")
        assert current(page) == expected(3)
        page.press("p")
        assert current(page) == expected(2)
        page.press("]")  # the next phase: the loss
        assert current(page) == expected(first_loss)
        page.press("]")  # ... then backward
        assert current(page) == expected(first_backward)
        chain_rule = page.evaluate("document.getElementById('chain-rule').textContent")
        assert "∂L/∂input = ∂L/∂output × ∂output/∂input" in chain_rule
        gradients = page.evaluate("document.getElementById('gradients').textContent")
        assert "∂L/∂output" in gradients
        page.press("End")
        assert current(page) == expected(len(events) - 1)
        assert events[-1].phase == "optimizer"
        # exactly one node is highlighted, with the thick red border of the CSS
        assert page.evaluate("document.querySelectorAll('.current').length") == 1
        stroke = page.evaluate("getComputedStyle(document.querySelector('.current path, "
                               ".current polygon')).stroke")
        assert stroke == "rgb(214, 39, 40)"
        page.press("[")
        assert current(page)[0] == first_backward
        page.screenshot(tmp_path / "replay.png")
        assert (tmp_path / "replay.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@needs_chromium
def test_a_trace_in_a_notebook_cell_replays_in_its_iframe(exported, tmp_path):
    """What Jupyter shows for a Trace (``_repr_html_``), opened as a page: the replay runs
    inside its iframe, keys included."""
    trace, graph, _ = exported
    cell = tmp_path / "cell.html"
    cell.write_text(f"<!DOCTYPE html><html><body>{trace._repr_html_()}</body></html>")
    with Chromium(CHROMIUM) as browser:
        page = browser.open(cell.as_uri())
        page.wait_for("document.querySelector('iframe').contentDocument.body.dataset.step")
        inner = "document.querySelector('iframe').contentDocument"
        page.evaluate("document.querySelector('iframe').contentWindow.focus()")
        page.evaluate(f"{inner}.dispatchEvent(new KeyboardEvent('keydown', {{key: 'n'}}))")
        assert page.evaluate(f"{inner}.body.dataset.step") == "1"
        first = trace.events[1]
        assert page.evaluate(f"{inner}.querySelector('.current').id") == \
            graph.node_names[first.node_id]
