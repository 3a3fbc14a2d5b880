"""The domain's one error family. The API layer maps it to 4xx responses."""

from __future__ import annotations


class LabelingError(Exception):
    """Base of every error the domain raises on purpose."""

    status_code = 400
    code = "invalid"

    def __init__(self, message: str, *, details: object | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


class ValidationFailed(LabelingError):
    code = "validation_failed"


class NotFound(LabelingError):
    status_code = 404
    code = "not_found"


class Forbidden(LabelingError):
    status_code = 403
    code = "forbidden"


class Conflict(LabelingError):
    status_code = 409
    code = "conflict"


class LeaseExpired(Conflict):
    code = "lease_expired"


class AlreadySubmitted(Conflict):
    """The assignment was submitted (another tab, an earlier try); the page moves on."""

    code = "already_submitted"


class AlreadySkipped(Conflict):
    code = "already_skipped"


class TaskTaken(Conflict):
    """A lapsed lease cannot be renewed: the task went to someone else."""

    code = "task_taken"


class ImportFailed(ValidationFailed):
    """An import found invalid lines; nothing was written.

    `errors` holds (line number, reason) for the first MAX_REPORTED lines and
    `error_count` the total.
    """

    code = "import_failed"
    MAX_REPORTED = 50

    def __init__(self, errors: list[tuple[int, str]], error_count: int) -> None:
        self.errors = errors[: self.MAX_REPORTED]
        self.error_count = error_count
        lines = [f"line {n}: {reason}" for n, reason in self.errors]
        more = error_count - len(self.errors)
        if more > 0:
            lines.append(f"... and {more} more invalid line(s)")
        super().__init__(
            f"import rejected, nothing was written: {error_count} invalid line(s)\n" + "\n".join(lines),
            details=[{"line": n, "error": reason} for n, reason in self.errors],
        )
