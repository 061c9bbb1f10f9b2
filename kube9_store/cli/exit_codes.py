"""The exit codes of every ``kube9-store`` command, declared once (docs/cli-exit-codes.md
shows the same table; a test keeps the two in step)."""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    """What a command's exit status means, whichever command it is."""

    #: Done as asked (a dry run that would have worked included).
    OK = 0
    #: An error: nothing, or not what was asked, was done; a JSON line on stderr says why.
    ERROR = 1
    #: A usage error: an unknown flag, a missing argument, a value of the wrong type.
    USAGE = 2
    #: Degraded or partial: the work was done in part (an import that rejected lines), or
    #: the database works but needs attention (health over its thresholds, status of a
    #: database this package reads but will not write).
    PARTIAL = 3
    #: Interrupted with Ctrl-C (SIGINT) before the work was done.
    INTERRUPTED = 130
    #: The reader of stdout went away (``| head``): nothing more could be shown.
    BROKEN_PIPE = 141


#: The meaning of each code, one line each, as the docs' table shows it.
MEANINGS: dict[ExitCode, str] = {
    ExitCode.OK: "Success, dry runs included.",
    ExitCode.ERROR: "Error: the command failed; one JSON line on stderr says why.",
    ExitCode.USAGE: "Usage: unknown flag, missing argument, or a value click rejects by type.",
    ExitCode.PARTIAL: "Degraded or partial: done in part, or working but needing attention.",
    ExitCode.INTERRUPTED: "Interrupted by Ctrl-C (SIGINT).",
    ExitCode.BROKEN_PIPE: "The reader of stdout went away (`| head`); output stopped.",
}


def table() -> list[tuple[int, str, str]]:
    """(code, name, meaning) of every code, in order."""
    return [(code.value, code.name, MEANINGS[code]) for code in ExitCode]
