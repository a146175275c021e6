"""Compiling on the second core: a background process fills the kernel cache.

Numba compiles one kernel at a time and holds Python's lock while it does, so a first
run of PyTorch's quickstart with an empty cache compiles its 26 kernels one after the
other on one core. When ``import numbanet`` finds that the common kernels are not
cached yet, it starts one helper process (:func:`helper_main`) that compiles them into
the same on-disk cache, *in the reverse order* of their first use: the script compiles
from the first kernel on, the helper from the last one of the first training step back
(its slow ``parallel=True`` kernels first, the accuracy computation's last), and each
time the script meets a kernel the helper has already written, Numba loads it from the
cache instead of compiling it. They meet in the middle, and split the work without
compiling a kernel twice: each claims a kernel before compiling it (a file per kernel in
a folder next to the lock, created atomically); when the script needs a kernel the helper
has claimed, it compiles the unclaimed ones it needs next meanwhile, then waits for it
(printing a line that says so) instead of compiling it too; the helper skips the kernels
the script has claimed.

Measured on the quickstart (24 kernels to its first step): when the matmul still had
three ``parallel=True`` kernels (21.4 s of the 30.5 s of compiling on one core), the
helper compiled two of those and SGD's parallel kernel, the script the other 21, and the
script's CPU time to its first step went from 21.2 s to 17.2 s (medians of 3, interleaved
with the previous version, on a busy 2-core machine). Since the matmul runs its threads
without ``prange`` (:class:`numbanet.kernels.cpu.threads.OnThreads`) there is 40% less to
compile (6.9 s of CPU in one process against 11.5 s, one run each, load 5.5): the script
compiles the first 18 kernels (the forward matmul and the loss), the helper the last 6
(the backward matmuls, the bias gradient, SGD), and the script no longer waits for the
helper.

The list of kernels is :data:`numbanet.precompile_manifest.KERNELS`: for each kernel
launched by a first training step of the quickstart's MLP (plus its accuracy
computation), the function's module and name and the Numba types of its arguments, as
``repr`` writes them. :func:`record` regenerates it (``tests/test_precompile.py`` fails
when it is out of date)::

    NUMBANET_PRECOMPILE=0 python -c "from numbanet.precompile import record; record(True)"

The helper is meant to be invisible:

- when the cache is warm it is never started (a marker file in the cache folder, named
  after Numba's version and the kernels' source files, says the list was compiled);
- one helper at a time per cache folder (a lock file holding its process id), so
  DataLoader workers and MPI ranks do not start their own;
- nothing when the cache folder cannot be written, or with ``NUMBANET_PRECOMPILE=0``;
- it prints nothing, and when the script ends first it is stopped and reaped (each
  kernel file Numba writes is complete, as Numba writes a temporary file and renames it);
- it runs in a session of its own, so Ctrl-C in the terminal reaches the script only, and
  Linux's per-session CPU sharing (autogroup) counts it as a job of its own: on a busy
  machine the script would otherwise have to share its own slice of CPU with it.
"""

from __future__ import annotations

import atexit
import hashlib
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

ENVIRONMENT_SWITCH = "NUMBANET_PRECOMPILE"  # "0" turns the helper off
LOCK_NAME = "numbanet-precompile.lock"
CLAIMS_NAME = "numbanet-precompile.claims"  # <i>: kernel i is being compiled; <i>.done: cached
POLL_SECONDS = 0.05  # how often a process waiting for the other one looks again
STALE_EMPTY_LOCK_SECONDS = 60.0  # an empty lock file this old was left by a crash
ABANDONED_LOCK_SECONDS = 600.0  # no helper runs this long: its process id was reused
PACKAGE_DIR = Path(__file__).resolve().parent
HELPER = ("import sys; sys.path[0] = sys.argv[1]; "  # this numbanet, not one in the cwd
          "from numbanet.precompile import helper_main; sys.exit(helper_main(sys.argv[2]))")

_helper: subprocess.Popen | None = None
_lock: Path | None = None  # the lock file the helper of this process holds
_owner = 0  # the process that started the helper (a forked child must leave it alone)


def _manifest() -> tuple:
    from numbanet.precompile_manifest import KERNELS

    return KERNELS


def _first_step() -> int:
    """How many kernels of the list the first training step launches (the others are the
    accuracy computation after it)."""
    from numbanet.precompile_manifest import FIRST_STEP

    return FIRST_STEP


def _marker_name(kernels: tuple) -> str:
    """``numbanet-precompiled-<hash>``: the hash of Numba's version, the kernel list and
    the modification time and size of each kernel's source file (what Numba's own cache
    checks), so an edited kernel or a new Numba makes the helper run again."""
    import numba

    digest = hashlib.sha1(numba.__version__.encode())
    digest.update(json.dumps(kernels).encode())
    for module in sorted({module for module, _, _ in kernels}):
        source = PACKAGE_DIR.joinpath(*module.split(".")[1:]).with_suffix(".py")
        if source.exists():
            stat = source.stat()
            digest.update(f"{source}:{stat.st_mtime_ns}:{stat.st_size}".encode())
    return f"numbanet-precompiled-{digest.hexdigest()[:16]}"


def _process_alive(pid: int) -> bool:
    if os.name != "posix":  # os.kill(pid, 0) would end the process on Windows
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, someone else's
        return True
    return True


def _take_lock(folder: Path) -> Path | None:
    """Create the lock file (atomically); None when a live helper holds it already. A
    lock left by a helper that was killed is taken over."""
    lock = folder / LOCK_NAME
    for _ in range(2):
        try:
            handle = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            try:
                text, age = lock.read_text(), time.time() - lock.stat().st_mtime
            except OSError:
                return None
            if not text.isdigit():  # empty: just created by another process, or left so
                if age < STALE_EMPTY_LOCK_SECONDS:
                    return None
            elif _process_alive(int(text)) and age < ABANDONED_LOCK_SECONDS:
                return None
            try:
                lock.unlink()
            except OSError:
                return None
            continue
        except OSError:
            return None
        os.close(handle)
        return lock
    return None


def start_in_background() -> subprocess.Popen | None:
    """Start the helper when the common kernels are not cached yet (see the module
    docstring); returns it, or None when there is nothing to do or it cannot run."""
    global _helper, _lock, _owner
    if os.environ.get(ENVIRONMENT_SWITCH, "1") == "0" or _helper is not None:
        return None
    lock = None
    from numbanet.compile_progress import cache_directory

    try:
        folder = cache_directory()
        kernels = _manifest()
        if (folder / _marker_name(kernels)).exists():
            return None  # the warm case: one stat
        folder.mkdir(parents=True, exist_ok=True)
        if not os.access(folder, os.W_OK):
            return None
        lock = _take_lock(folder)
        if lock is not None:
            _clear_claims(folder / CLAIMS_NAME)  # left by a run that was killed
            (folder / CLAIMS_NAME).mkdir()
    except OSError:
        if lock is not None:
            lock.unlink(missing_ok=True)
        return None
    if lock is None:
        return None
    from numba.core import config

    environment = dict(os.environ, **{ENVIRONMENT_SWITCH: "0", "NUMBANET_QUIET_COMPILE": "1"})
    if config.CACHE_DIR:  # ensure_writable_cache may have chosen a temporary folder
        environment["NUMBA_CACHE_DIR"] = str(config.CACHE_DIR)
    try:
        helper = subprocess.Popen(
            [sys.executable, "-c", HELPER, str(PACKAGE_DIR.parent), str(lock)], env=environment,
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            close_fds=True, start_new_session=True)
    except OSError:
        lock.unlink(missing_ok=True)
        return None
    lock.write_text(str(helper.pid))
    _helper, _lock, _owner = helper, lock, os.getpid()
    _share_work(kernels, folder / CLAIMS_NAME, _first_step())
    # reap it as soon as it exits (no zombie while the script runs on) ...
    threading.Thread(target=helper.wait, name="numbanet-precompile-reaper", daemon=True).start()
    atexit.register(stop_helper)  # ... and stop it when the script ends first
    return helper


def stop_helper() -> None:
    """Stop the helper if it still runs, and wait for it (the kernels it finished stay
    cached)."""
    global _helper, _lock
    if os.getpid() != _owner:
        return  # a forked child: the helper belongs to its parent
    _stop_sharing()
    helper, lock, _helper, _lock = _helper, _lock, None, None
    if helper is None:
        return
    if helper.poll() is None:
        helper.terminate()
        try:
            helper.wait(timeout=5)
        except subprocess.TimeoutExpired:
            helper.kill()
            helper.wait()
    if lock is not None:
        _clear_claims(lock.parent / CLAIMS_NAME)
    _release(lock, helper.pid)  # when it was stopped before it could do so itself


def _claim(claims: Path, index: int) -> bool | None:
    """Claim kernel ``index`` of the list (create ``claims/<index>`` atomically): True when
    this process got it, False when the other one has it, None when the folder is gone
    (the helper has finished: nothing is shared any more)."""
    try:
        os.close(os.open(claims / str(index), os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644))
    except FileExistsError:
        return False
    except OSError:
        return None
    return True


def _mark_done(claims: Path, index: int) -> None:
    """``claims/<index>.done``: kernel ``index`` is in the cache (or could not be put there:
    whoever waits for it then loads or compiles it itself)."""
    try:
        (claims / f"{index}.done").touch()
    except OSError:
        pass


def _clear_claims(claims: Path) -> None:
    try:
        for entry in claims.iterdir():
            entry.unlink(missing_ok=True)
        claims.rmdir()
    except OSError:
        pass


_claims: Path | None = None  # the claims folder shared with this process's helper
_listed: dict[tuple, int] = {}  # (module, name, argument types) -> position in the list
_listed_kernels: tuple = ()
_first_step_listed = 0  # how many of them the first training step launches


def _sharing() -> bool:
    return (_claims is not None and _helper is not None and os.getpid() == _owner
            and _helper.returncode is None)


def _listed_position(cache, signature) -> int | None:
    function = cache._py_func
    return _listed.get((function.__module__, function.__qualname__,
                        tuple(repr(kind) for kind in signature)))


def _load_shared(cache, signature, target_context):
    """Numba's ``load_overload`` in the script's process while its helper runs: on a cache
    miss for a listed kernel, claim it (then Numba compiles it here), or, when the helper
    has claimed it, wait until the helper has cached it and load that."""
    from numba.core.caching import Cache

    data = Cache.load_overload(cache, signature, target_context)
    if data is not None or not _sharing():
        return data
    position = _listed_position(cache, signature)
    if position is None or _claim(_claims, position) is not False:
        return None  # not listed, or ours to compile
    _work_while_waiting(position)
    _wait_for_helper(position, cache._py_func.__name__)
    return Cache.load_overload(cache, signature, target_context)


def _save_shared(cache, signature, data):
    """Numba's ``save_overload``, then mark a listed kernel done for the helper."""
    from numba.core.caching import Cache

    Cache.save_overload(cache, signature, data)
    if _sharing():
        position = _listed_position(cache, signature)
        if position is not None:
            _mark_done(_claims, position)


_working = False  # compiling ahead inside a wait (no second level of it)


def _work_while_waiting(position: int) -> None:
    """While the helper compiles kernel ``position``, compile the training step's kernels
    after it that nobody has claimed yet (the script needs them next), until it is done."""
    global _working
    if _working:
        return
    _working = True
    try:
        dispatchers = _dispatchers()
        for later in range(position + 1, _first_step_listed):
            if (_claims / f"{position}.done").exists() or not _sharing():
                return
            if (_claims / str(later)).exists():
                continue  # claimed: being compiled, or done
            module, name, arguments = _listed_kernels[later]
            dispatcher = dispatchers.get(f"{module}.{name}")
            if dispatcher is not None:
                try:
                    dispatcher.compile(_signature(arguments))  # claims it through Numba's cache
                except Exception:  # noqa: BLE001 - compiled again, and reported, when used
                    _mark_done(_claims, later)
    finally:
        _working = False


def _wait_for_helper(position: int, name: str) -> None:
    """Until the helper has cached kernel ``position`` (or stopped); past half a second,
    a line on stderr says what the script is waiting for."""
    from numbanet.compile_progress import SLOW_COMPILE_SECONDS, announce_waiting

    done = _claims / f"{position}.done"
    started = time.perf_counter()
    announced = False
    while not done.exists() and _claims.exists() and _sharing():
        if not announced and time.perf_counter() - started >= SLOW_COMPILE_SECONDS:
            announce_waiting(name)
            announced = True
        time.sleep(POLL_SECONDS)


def _share_work(kernels: tuple, claims: Path, first_step: int) -> None:
    """Route this process's Numba cache look-ups through :func:`_load_shared` and
    :func:`_save_shared` while its helper runs (they fall back to Numba's own when it
    has stopped, in a forked child, and for kernels not in the list)."""
    from numba.core.caching import FunctionCache

    global _claims, _listed_kernels, _first_step_listed
    _listed_kernels, _first_step_listed = kernels, min(first_step, len(kernels))
    _listed.clear()
    for position, (module, name, arguments) in enumerate(kernels):
        _listed.setdefault((module, name, tuple(arguments)), position)
    _claims = claims
    FunctionCache.load_overload = _load_shared
    FunctionCache.save_overload = _save_shared


def _stop_sharing() -> None:
    from numba.core.caching import FunctionCache

    global _claims
    _claims = None
    for name in ("load_overload", "save_overload"):
        if name in vars(FunctionCache):
            delattr(FunctionCache, name)


def _dispatchers() -> dict[str, object]:
    """Every CPU kernel by ``module.name``: the Numba dispatchers among the globals of
    the kernel modules, and the loops of the elementwise formula tables."""
    from numba.core.registry import CPUDispatcher

    import numbanet.kernels.cpu  # noqa: F401 - imports every CPU kernel module

    found: dict[str, object] = {}

    def add(value) -> None:
        if isinstance(value, CPUDispatcher):
            function = value.py_func
            found.setdefault(f"{function.__module__}.{function.__qualname__}", value)

    for name, module in list(sys.modules.items()):
        if not name.startswith("numbanet.kernels.cpu") or module is None:
            continue
        for value in list(vars(module).values()):
            add(value)
            for inner in (value.values() if isinstance(value, dict) else ()):
                loops = getattr(inner, "loops", None)  # an elementwise formula's loops
                for attribute in (loops().values() if callable(loops) else ()):
                    add(attribute)
    return found


def _signature(arguments: list[str]) -> tuple:
    """Numba types back from their ``repr`` (``Array(float32, 2, 'C', False,
    aligned=True)``, ``float32``, ``bool``)."""
    from numba.core import types

    namespace = {**vars(types), "bool": types.boolean}
    return tuple(eval(text, namespace) for text in arguments)  # noqa: S307 - our own list


def _helper_order(kernels: tuple, dispatchers: dict, first_step: int) -> list[int]:
    """The positions of the list in the helper's order: the first training step's from the
    last one back, the ``parallel=True`` kernels among them first (they take five to ten
    times longer to compile: the script, which compiles from the first kernel on, then
    waits at most for a short one when they meet), then the accuracy computation's."""

    def parallel(position: int) -> bool:
        module, name, _ = kernels[position]
        options = getattr(dispatchers.get(f"{module}.{name}"), "targetoptions", {})
        return bool(options.get("parallel"))

    step = sorted(reversed(range(first_step)), key=lambda position: not parallel(position))
    return [*step, *range(first_step, len(kernels))]


def compile_all(kernels: tuple, claims: Path | None = None, first_step: int | None = None) -> int:
    """Compile (or load from the cache) every kernel of the list, in :func:`_helper_order`
    (``first_step``: all by default); how many it found. With ``claims``, the kernels the
    script has claimed are left to it, then loaded from the cache once it has written
    them."""
    dispatchers = _dispatchers()
    done = 0
    theirs = []
    first_step = len(kernels) if first_step is None else min(first_step, len(kernels))
    for position in _helper_order(kernels, dispatchers, first_step):
        module, name, arguments = kernels[position]
        dispatcher = dispatchers.get(f"{module}.{name}")
        if dispatcher is None:
            continue  # renamed since the list was recorded: the script compiles it itself
        if claims is not None and _claim(claims, position) is False:
            theirs.append((position, dispatcher, arguments))
            continue
        dispatcher.compile(_signature(arguments))
        if claims is not None:
            _mark_done(claims, position)
        done += 1
    parent = os.getppid()
    for position, dispatcher, arguments in theirs:
        deadline = time.monotonic() + ABANDONED_LOCK_SECONDS
        while (claims.exists() and not (claims / f"{position}.done").exists()
               and os.getppid() == parent and time.monotonic() < deadline):
            time.sleep(POLL_SECONDS * 2)
        dispatcher.compile(_signature(arguments))  # from the cache, unless the script failed
        done += 1
    return done


def helper_main(lock: str) -> int:
    """The helper process: compile the list, leave the marker, release the lock. Stopped
    early (SIGTERM ends it at once, even inside LLVM, so a short script is not kept
    waiting), it leaves the lock to :func:`stop_helper`."""
    lock = Path(lock)
    try:
        from numbanet.compile_progress import cache_directory

        kernels = _manifest()
        claims = lock.parent / CLAIMS_NAME
        claims = claims if claims.is_dir() else None
        if compile_all(kernels, claims, _first_step()) == len(kernels):
            (cache_directory() / _marker_name(kernels)).touch()
        return 0
    finally:
        _clear_claims(lock.parent / CLAIMS_NAME)
        _release(lock, os.getpid())


def _release(lock: Path | None, pid: int) -> None:
    """Remove the lock file if process ``pid`` holds it."""
    try:
        if lock is not None and lock.read_text() == str(pid):
            lock.unlink()
    except OSError:
        pass


def record(write: bool = False) -> tuple[tuple, int]:
    """Run the quickstart workload of ``numbanet warmup`` and list the kernels it
    launches, in the order of their first launch, and how many of them its training steps
    launch (the rest are its accuracy computation); with ``write``, store both as
    :mod:`numbanet.precompile_manifest`."""
    import numbanet as torch
    from numbanet.kernels import launch
    from numbanet.kernels.cpu.threads import CALLER, OnThreads
    from numbanet.warmup import _classifier_accuracy, _classifier_training

    seen: dict[tuple, None] = {}

    def on_arguments(kernel, arguments, grid, block) -> None:
        if isinstance(kernel, OnThreads):  # the Numba kernel it runs: (caller, part, parts)
            kernel, arguments = kernel.kernel, (*arguments[:-1], CALLER, 0, arguments[-1])
        function = getattr(kernel, "py_func", None)
        if function is None or grid is not None:
            return
        types = tuple(repr(kernel.typeof_pyval(value)) for value in arguments)
        seen.setdefault((function.__module__, function.__qualname__, types), None)

    launch.set_listener(lambda *_: None)
    launch.set_arguments_listener(on_arguments)
    try:
        torch.manual_seed(0)
        trained = _classifier_training(torch, torch.optim.SGD, lr=1e-3)
        first_step = len(seen)
        _classifier_accuracy(torch, *trained)
    finally:
        launch.set_arguments_listener(None)
        launch.set_listener(None)
    kernels = tuple((module, name, list(types)) for module, name, types in seen)
    if write:
        lines = ['"""The kernels a first training step of PyTorch\'s quickstart launches, in order',
                 "of first use: module, function name, argument types (Numba's repr).",
                 "",
                 "Generated by :func:`numbanet.precompile.record` (``record(write=True)``);",
                 'read by :mod:`numbanet.precompile`."""', "",
                 f"FIRST_STEP = {first_step}  # the training step's; then the accuracy's", "",
                 "KERNELS = ("]
        for module, name, types in kernels:
            lines.append(f"    ({json.dumps(module)}, {json.dumps(name)}, [")
            lines += [f"        {json.dumps(text)}," for text in types]
            lines.append("    ]),")
        lines.append(")")
        PACKAGE_DIR.joinpath("precompile_manifest.py").write_text("\n".join(lines) + "\n")
    return kernels, first_step
