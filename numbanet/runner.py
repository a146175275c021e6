"""``numbanet run SCRIPT.py [ARGS...]``: an unmodified PyTorch script, run on numbanet.

The script runs as ``python SCRIPT.py ARGS`` would run it (``sys.argv == [SCRIPT.py, *ARGS]``,
``__name__ == "__main__"``, its folder first on ``sys.path``) with ``import torch`` and
``import torchvision`` answered by numbanet (:mod:`numbanet.torch_alias`). ``-n N`` starts N
copies as one MPI job (:mod:`numbanet.distributed.launch`).

When the script reaches for a PyTorch name numbanet lacks, the run ends with one line naming
it and the script's line, e.g.::

    numbanet run: train.py:41: torch.fft.rfft is not available in numbanet: ...

and exit status 1. Any other exception prints its traceback from the script's own frames on
(numbanet's launcher frames are left out), as Python would for ``python SCRIPT.py``.
"""

from __future__ import annotations

import os
import sys
import traceback

from numbanet.torch_alias import aliased, as_missing_api


def run_script(script: str, arguments: list[str], processes: int = 1) -> int:
    """Run ``script`` with ``arguments`` on numbanet; the exit status (``SystemExit`` raised by
    the script propagates, as under ``python``)."""
    from numbanet.distributed.launch import launch

    if processes != 1:  # mpiexec starts each rank as `numbanet run SCRIPT`: they come back here
        return launch(processes, script, arguments)
    saved_argv, saved_path = sys.argv[:], sys.path[:]
    with aliased():
        try:
            return launch(1, script, arguments)
        except Exception as error:  # noqa: BLE001 - reported like Python, then status 1
            missing = as_missing_api(error)
            if missing is not None:
                print(f"numbanet run: {missing}", file=sys.stderr)
            else:
                print_script_traceback(error, script)
            return 1
        finally:
            sys.argv[:], sys.path[:] = saved_argv, saved_path


def print_script_traceback(error: BaseException, script: str) -> None:
    """The traceback from the script's first frame on: what ``python SCRIPT.py`` prints."""
    tb = error.__traceback__
    target = os.path.realpath(script)
    start = tb
    while start is not None and os.path.realpath(start.tb_frame.f_code.co_filename) != target:
        start = start.tb_next
    traceback.print_exception(type(error), error, start if start is not None else tb,
                              file=sys.stderr)
