"""Error types raised by ecg. Every error names what failed and why."""


class EcgError(Exception):
    """Base class of all errors raised by ecg."""


class RecordError(EcgError):
    """A record cannot be used: missing, truncated, malformed or inconsistent.

    Parameters
    ----------
    record : str
        Record name or path, as the user knows it.
    problem : str
        What is wrong, and where possible what to do about it.
    """

    def __init__(self, record, problem):
        self.record = str(record)
        self.problem = str(problem)
        super().__init__(f"record {self.record!r}: {self.problem}")

    def __reduce__(self):
        return type(self), (self.record, self.problem)


class SignalError(EcgError, ValueError):
    """An array or rate given to an :mod:`ecg.ops` function is invalid.

    Raised at the public boundary of the ops (wrong shape or dtype, too few samples,
    non-finite values, a sampling rate that is not a positive number) instead of the
    numpy or scipy exception the bad input would cause deeper down. It is a
    ``ValueError`` too, so ``except ValueError`` keeps working.
    """


class LabelError(EcgError):
    """A label is missing for a record, or is not one of the known classes."""


class ConfigError(EcgError, ValueError):
    """A configuration is invalid: unknown keys, wrong types or values."""


class ModelError(EcgError):
    """A model cannot be built, trained, saved or loaded as asked."""


class DownloadError(EcgError):
    """A dataset could not be downloaded or verified."""
