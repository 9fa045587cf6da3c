"""The one exception type for errors a user can cause, and the exit codes."""

EXIT_RUNTIME = 1  # the run failed for a reason outside the user's inputs (I/O, disk full, ...)
EXIT_USAGE = 2  # bad command line or bad input: nothing was written
EXIT_GATE = 3  # eval --fail-below: the recall gate was not met


class VtoolError(Exception):
    """A problem with the user's command or input, reported as one line on stderr."""

    def __init__(self, message: str, exit_code: int = EXIT_USAGE):
        super().__init__(message)
        self.message = message
        self.exit_code = exit_code


class CorruptData(VtoolError, ValueError):
    """Bytes that passed their checksums but not a decoder's consistency checks: what a crafted
    or damaged file gives (a native decoder's failure, reported as one line, exit 2)."""
