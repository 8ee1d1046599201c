"""ErrorReport: the records a run left out, and why.

``EcgBatch.load(..., on_error="skip")`` drops a bad record from its batch instead of
raising, and lists it here; read the report once the run is over::

    report = ErrorReport()
    pipeline = ds.p.load(fmt="wfdb", on_error="skip", report=report).train_on_batch("cnn")
    pipeline.run(batch_size=64, n_epochs=1)
    print(report.summary())

A filter that leaves no record in a batch (``drop_labels``, ``keep_labels``,
``drop_short_signals``, ``signal_quality(drop=True)``, ``load(on_error="skip")``) skips
the batch through :func:`skip_empty_batch`: the pipeline goes on with the next one, and
the report counts the batch and why it was skipped.
"""
import logging
import queue
import threading
from collections import Counter

import batchflow
from batchflow import SkipBatchException
from batchflow import pipeline_executor as _executor

from ecg.errors import LabelError, RecordError

REPORT_VARIABLE = "ecg_errors"
logger = logging.getLogger("ecg")


class ErrorReport:
    """A thread-safe list of ``(record, reason)`` pairs filled while a pipeline runs.

    Batches run in parallel threads with ``prefetch``, so every update holds a lock.

    Attributes
    ----------
    records : list of tuple
        ``(record, reason)`` for every record left out, in the order they were met.
    skipped_batches : int
        Batches dropped whole because none of their records was usable or left.
    skip_reasons : collections.Counter
        Why those batches were skipped: reason -> number of batches.

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
        self.skip_reasons = Counter()

    def add(self, record, reason):
        """List ``record`` (its name) as left out for ``reason`` (a str or an exception)."""
        reason = reason.problem if hasattr(reason, "problem") else str(reason)
        with self._lock:
            self.records.append((str(record), reason))

    def add_skipped_batch(self, reason="no usable record"):
        """Count a batch left out whole, for ``reason`` (a str)."""
        with self._lock:
            self.skipped_batches += 1
            self.skip_reasons[str(reason)] += 1

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
            self.skip_reasons = Counter()

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
            records, skipped, reasons = list(self.records), self.skipped_batches, Counter(self.skip_reasons)
        batches = f"{skipped} whole batch{'es' if skipped > 1 else ''} skipped"
        if not records:
            if not skipped:
                return "no record left out"
            return f"{batches}:\n" + "\n".join(f"  {n} x {reason}" for reason, n in reasons.most_common())
        head = f"{len(records)} record{'s' if len(records) > 1 else ''} left out"
        if skipped:
            head += f" ({batches})"
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


class EmptyBatchError(SkipBatchException):
    """No record of a batch is left: a pipeline skips the batch (batchflow's ``SkipBatchException``).

    Raised by the filter actions through :func:`skip_empty_batch`. Outside a pipeline it
    is also the error the action raised before batches were skipped:
    :class:`EmptyLabelsError` is a ``LabelError``, :class:`EmptyRecordsError` a
    ``RecordError``, so ``except LabelError`` keeps catching it.
    """


class EmptyLabelsError(EmptyBatchError, LabelError):
    """A label filter (``keep_labels``, ``drop_labels``) left no record in the batch."""


class EmptyRecordsError(EmptyBatchError, RecordError):
    """A record filter (``drop_short_signals``, ``signal_quality(drop=True)``) left no record."""

    def __init__(self, record, problem):
        RecordError.__init__(self, record, problem)


def skip_empty_batch(batch, error, report=None):
    """Count ``batch`` as skipped in the error report, then raise ``error`` to skip it.

    Parameters
    ----------
    batch : EcgBatch
        The batch a filter emptied.
    error : EmptyBatchError
        What to raise; its message is the reason counted in the report.
    report : ErrorReport, optional
        Where to count the batch; by default the pipeline's ``"ecg_errors"`` (none
        outside a pipeline).

    Raises
    ------
    EmptyBatchError
        Always: ``error``.
    """
    if report is None and batch.pipeline is not None:
        report = pipeline_report(batch.pipeline)
    reason = getattr(error, "problem", None) or str(error)
    logger.info("batch of %d records skipped: %s", len(batch), reason)
    if report is not None:
        report.add_skipped_batch(reason)
    raise error


# batchflow 0.10.1 hangs when the first batch of a run with ``prefetch`` is skipped: its
# queue thread puts a variable that was never bound and dies, and the run waits for it
# forever; a later skipped batch hands the previous batch out a second time. It also hangs
# when a batch fails: the run stops, but the thread that submits batches stays blocked on
# a full prefetch gate, and the run waits for that thread forever. This is the same method
# with a skipped batch releasing its prefetch slot and handing nothing out, as a run
# without prefetch does, and the submitting thread waiting on the gate in short steps so
# that it sees a stopped run and ends. Other batchflow versions are left as they are.
# (train_epochs does not use this executor at all: see ecg.training.run_epoch.)
_PATCHED_BATCHFLOW = ("0.10.1",)
_GATE_POLL_S = 0.05


def _run_batches_from_queue(self, ignore_exceptions):
    end = _executor.END_PIPELINE_SIGNAL
    while not self._stop_flag:
        future = self._prefetch_queue.get(block=True)
        skipped = False
        try:
            batch = end if isinstance(future, int) and future == end else future.result()
        except SkipBatchException:
            skipped = True
        except _executor.StopPipeline:
            batch = end
            break
        except Exception as exc:    # noqa: BLE001 -- batchflow's handling, unchanged
            print("Exception:", exc)
            _executor.traceback.print_tb(exc.__traceback__)
            batch = None if ignore_exceptions else end
        finally:
            self._prefetch_queue.task_done()
            if skipped:
                self._prefetch_count.get(block=True)
                self._prefetch_count.task_done()
            else:
                self._batch_queue.put(batch, block=True)
                if isinstance(batch, int) and batch == end:
                    self._stop_flag = True


def _put_batches_into_queue(self, gen_batch, seed):
    iteration = 1
    while not self._stop_flag:
        # batchflow blocks on the gate for good; waiting in steps lets a stopped run end this thread
        while not self._stop_flag:
            try:
                self._prefetch_count.put(1, block=True, timeout=_GATE_POLL_S)
                break
            except queue.Full:
                continue
        if self._stop_flag:
            break
        try:
            batch = next(gen_batch)
        except StopIteration:
            break
        future = self._executor.submit(self.pipeline.execute_for, batch, iteration=iteration,
                                       seed=seed.spawn(1)[0], new_loop=True)
        self._prefetch_queue.put(future, block=True)
        iteration = iteration + 1
    self._prefetch_queue.put(_executor.END_PIPELINE_SIGNAL, block=True)


if batchflow.__version__ in _PATCHED_BATCHFLOW:
    _executor.PipelineExecutor._run_batches_from_queue = _run_batches_from_queue
    _executor.PipelineExecutor._put_batches_into_queue = _put_batches_into_queue
