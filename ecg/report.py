"""ErrorReport: the records a run left out, and why.

``EcgBatch.load(..., on_error="skip")`` drops a bad record from its batch instead of
raising, and lists it here; read the report once the run is over::

    report = ErrorReport()
    pipeline = ds.p.load(fmt="wfdb", on_error="skip", report=report).train_on_batch("cnn")
    pipeline.run(batch_size=64, n_epochs=1)
    print(report.summary())
"""
import threading
from collections import Counter

REPORT_VARIABLE = "ecg_errors"


class ErrorReport:
    """A thread-safe list of ``(record, reason)`` pairs filled while a pipeline runs.

    Batches run in parallel threads with ``prefetch``, so every update holds a lock.

    Attributes
    ----------
    records : list of tuple
        ``(record, reason)`` for every record left out, in the order they were met.
    skipped_batches : int
        Batches dropped whole because none of their records was usable.

    Examples
    --------
    >>> report = ErrorReport()
    >>> report.add("A00001", "signal file not found")
    >>> report.summary()
    '1 record left out:\\n  A00001: signal file not found'
    """

    def __init__(self):
        self._lock = threading.Lock()
        self.records = []
        self.skipped_batches = 0

    def add(self, record, reason):
        """List ``record`` (its name) as left out for ``reason`` (a str or an exception)."""
        reason = reason.problem if hasattr(reason, "problem") else str(reason)
        with self._lock:
            self.records.append((str(record), reason))

    def add_skipped_batch(self):
        """Count a batch left out whole."""
        with self._lock:
            self.skipped_batches += 1

    def __len__(self):
        with self._lock:
            return len(self.records)

    def __bool__(self):
        return True

    def __iter__(self):
        with self._lock:
            return iter(list(self.records))

    def clear(self):
        """Forget every record (e.g. before another run)."""
        with self._lock:
            self.records = []
            self.skipped_batches = 0

    def summary(self, limit=20):
        """A readable summary: how many records were left out, then each one and why.

        Parameters
        ----------
        limit : int
            Most records to list one per line; the rest are counted by reason.

        Returns
        -------
        str
        """
        with self._lock:
            records, skipped = list(self.records), self.skipped_batches
        if not records:
            return "no record left out"
        head = f"{len(records)} record{'s' if len(records) > 1 else ''} left out"
        if skipped:
            head += f" ({skipped} whole batch{'es' if skipped > 1 else ''} skipped)"
        lines = [head + ":"] + [f"  {record}: {reason}" for record, reason in records[:limit]]
        if len(records) > limit:
            rest = Counter(reason for _, reason in records[limit:])
            lines.append(f"  ... and {len(records) - limit} more: " +
                         "; ".join(f"{n} x {reason}" for reason, n in rest.most_common(5)))
        return "\n".join(lines)

    def __repr__(self):
        return f"ErrorReport({len(self)} records left out)"


_PIPELINE_LOCK = threading.Lock()


def pipeline_report(pipeline):
    """The :class:`ErrorReport` stored on ``pipeline`` as variable ``"ecg_errors"``, made once.

    Used by ``load(on_error="skip")`` when no ``report=`` is given; read it after the
    run with ``pipeline.v("ecg_errors").summary()``.
    """
    with _PIPELINE_LOCK:
        if not pipeline.has_variable(REPORT_VARIABLE) or pipeline.v(REPORT_VARIABLE) is None:
            pipeline.assign_variable(REPORT_VARIABLE, ErrorReport())
        return pipeline.v(REPORT_VARIABLE)
