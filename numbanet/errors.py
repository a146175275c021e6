"""Errors that tell a learner what went wrong, in which op, on which line of *their* code."""

from numbanet.trace import user_source_line


def op_error(exception_type: type[Exception], op: str, detail: str) -> Exception:
    """An exception whose message names the op, the problem and the user's source line."""
    where = user_source_line()
    message = f"{op}: {detail}"
    if where:
        message += f"\n  in your code at {where}"
    return exception_type(message)
