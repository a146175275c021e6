"""Drive headless Chromium from a test, with nothing but the standard library.

Chromium speaks the Chrome DevTools Protocol (CDP) over a pair of pipes when started with
``--remote-debugging-pipe``: it reads commands from its file descriptor 3 and writes
replies and events to descriptor 4, each a JSON object ended by a NUL byte. That is all a
test needs to open a page, press keys the way a user does (``Input.dispatchKeyEvent``:
real key events, through the page's own listeners), read the DOM back and take a
screenshot — no websocket library, no Playwright browser download.

::

    with Chromium() as browser:
        page = browser.open("file:///tmp/step.html")
        page.press("n")
        page.evaluate("document.body.dataset.step")  # -> "1"

:func:`find_chromium` says where the browser is, or None (the caller skips, saying why).
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import tempfile
import time

CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--hide-scrollbars", "--remote-debugging-pipe")

# key -> (code, Windows virtual key code): what a keyboard would send
STDERR = subprocess.DEVNULL
KEYS = {"ArrowRight": ("ArrowRight", 39), "ArrowLeft": ("ArrowLeft", 37),
        "Home": ("Home", 36), "End": ("End", 35),
        "]": ("BracketRight", 221), "[": ("BracketLeft", 219)}


def find_chromium() -> str | None:
    """The path of a Chromium (or Chrome) program: ``$CHROMIUM`` first, then ``PATH``."""
    if os.environ.get("CHROMIUM"):
        return shutil.which(os.environ["CHROMIUM"])
    return next((shutil.which(name) for name in CANDIDATES if shutil.which(name)), None)


class Chromium:
    """One headless Chromium process, spoken to through its DevTools pipes."""

    def __init__(self, executable: str | None = None, width: int = 1600, height: int = 1000,
                 timeout: float = 60.0):
        self.executable = executable or find_chromium()
        if self.executable is None:
            raise FileNotFoundError("no chromium on PATH")
        self.size = (width, height)
        self.timeout = timeout
        self._next_id = 0
        self._buffer = b""

    def __enter__(self) -> Chromium:
        self._profile = tempfile.TemporaryDirectory(prefix="numbanet-chromium-")
        to_browser_read, self._to_browser = os.pipe()  # its fd 3: our commands
        self._from_browser, from_browser_write = os.pipe()  # its fd 4: its replies

        def give_pipes():  # in the child, before exec: put the pipes on fds 3 and 4
            reading, writing = os.dup(to_browser_read), os.dup(from_browser_write)
            os.dup2(reading, 3)  # (via fresh copies: either pipe may itself be fd 3 or 4)
            os.dup2(writing, 4)

        self.process = subprocess.Popen(
            [self.executable, *FLAGS, f"--user-data-dir={self._profile.name}",
             f"--window-size={self.size[0]},{self.size[1]}", "about:blank"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=STDERR,
            # close_fds=False: fds 3 and 4 made by dup2 must survive the exec; every other
            # descriptor of ours is close-on-exec anyway (Python's default)
            preexec_fn=give_pipes, close_fds=False)
        os.close(to_browser_read)
        os.close(from_browser_write)
        return self

    def __exit__(self, *exc) -> None:
        try:
            self.send("Browser.close")
        except (OSError, TimeoutError, RuntimeError):
            pass
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        os.close(self._to_browser)
        os.close(self._from_browser)
        self._profile.cleanup()

    # ---- the protocol -----------------------------------------------------------------
    def send(self, method: str, session: str | None = None, **params) -> dict:
        """Send one command and wait for its reply (events arriving meanwhile are dropped)."""
        self._next_id += 1
        message = {"id": self._next_id, "method": method, "params": params}
        if session:
            message["sessionId"] = session
        os.write(self._to_browser, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + self.timeout
        while True:
            reply = self._read_message(deadline)
            if reply.get("id") == self._next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})

    def _read_message(self, deadline: float) -> dict:
        while b"\0" not in self._buffer:
            if time.monotonic() > deadline:
                raise TimeoutError("chromium did not answer in time")
            chunk = os.read(self._from_browser, 1 << 16)
            if not chunk:
                raise RuntimeError("chromium closed its DevTools pipe (did it crash?)")
            self._buffer += chunk
        message, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(message)

    def open(self, url: str) -> Page:
        """A new tab showing ``url``, loaded."""
        target = self.send("Target.createTarget", url=url)["targetId"]
        session = self.send("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
        page = Page(self, session)
        page.wait_for(f"location.href === {json.dumps(url)} && "
                      "document.readyState === 'complete'")
        return page


class Page:
    """One tab: evaluate JavaScript, press keys, take screenshots."""

    def __init__(self, browser: Chromium, session: str):
        self.browser = browser
        self.session = session

    def evaluate(self, expression: str):
        """The value of a JavaScript expression in the page (JSON-able values only)."""
        result = self.browser.send("Runtime.evaluate", self.session, expression=expression,
                                   returnByValue=True)
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def wait_for(self, condition: str, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while not self.evaluate(f"Boolean({condition})"):
            if time.monotonic() > deadline:
                raise TimeoutError(f"the page never satisfied {condition}")
            time.sleep(0.05)

    def press(self, key: str) -> None:
        """Press and release ``key`` ("n", "ArrowRight", "]"), as a keyboard would."""
        code, key_code = KEYS[key] if key in KEYS else (f"Key{key.upper()}", ord(key.upper()))
        text = key if len(key) == 1 else ""
        for kind in ("keyDown", "keyUp"):
            self.browser.send("Input.dispatchKeyEvent", self.session, type=kind, key=key,
                              code=code, windowsVirtualKeyCode=key_code,
                              text=text if kind == "keyDown" else "")

    def screenshot(self, path: str | os.PathLike) -> None:
        data = self.browser.send("Page.captureScreenshot", self.session, format="png")["data"]
        with open(path, "wb") as file:
            file.write(base64.b64decode(data))
