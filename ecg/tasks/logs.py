"""Logs of every epoch in the run directory, written as training goes: ``history.csv`` and TensorBoard.

:func:`ecg.tasks.base.fit` wraps its :class:`~ecg.tasks.base.EpochKeeper` in an
:class:`EpochLog`: after each epoch (validated by the keeper) the rows so far are written
to ``history.csv`` (atomically, so a reader never sees half a file) and the epoch's
numbers to TensorBoard event files in ``tensorboard/`` (``tensorboard --logdir
runs/<name>/tensorboard``). The event files are written with TensorFlow's summary ops
when TensorFlow is installed (the ``tf`` and ``test`` extras), which need no
``tensorboard`` package; without TensorFlow only the CSV is written.
"""
import logging

logger = logging.getLogger("ecg")

SKIPPED = {"epoch", "member"}
"""Columns of a history row that are not curves."""


class EpochLog:
    """An ``on_epoch`` callback: the keeper's validation, then the CSV and TensorBoard logs.

    Parameters
    ----------
    keeper : callable
        ``keeper(logs)`` validates the epoch and appends its row to ``keeper.rows``
        (:class:`~ecg.tasks.base.EpochKeeper`); it may raise ``StopTraining``.
    run_dir : RunDirectory
        The run directory.
    earlier : list of dict
        Rows of the members trained before this one (written first in ``history.csv``).
    member : int, optional
        The member of an ensemble: a ``member`` column, and TensorBoard runs
        ``tensorboard/member_<k>``.
    """

    def __init__(self, keeper, run_dir, earlier=(), member=None):
        self.keeper, self.run_dir, self.earlier, self.member = keeper, run_dir, list(earlier), member
        self._writer = None

    def rows(self):
        """The history so far: earlier members' rows, then this member's."""
        own = [{"member": self.member, **row} if self.member is not None else row for row in self.keeper.rows]
        return self.earlier + own

    def __call__(self, logs):
        n_rows = len(self.keeper.rows)
        try:
            self.keeper(logs)
        finally:                                    # also when the keeper stops the run
            if len(self.keeper.rows) > n_rows:
                self.run_dir.write_rows("history.csv", self.rows(), columns=_columns(self.rows()))
                self.write_tensorboard(self.keeper.rows[-1])

    def write_tensorboard(self, row):
        """Write the numbers of one history ``row`` as TensorBoard scalars at step ``row["epoch"]``."""
        writer = self._tensorboard()
        if writer is None:
            return
        tf, file_writer, metadata = writer
        with file_writer.as_default():
            for key, value in row.items():
                if key not in SKIPPED and isinstance(value, (int, float)) and not isinstance(value, bool):
                    tf.summary.write(key, tf.constant(float(value)), step=int(row["epoch"]), metadata=metadata)
        file_writer.flush()

    def _tensorboard(self):
        if self._writer is None:
            try:
                import tensorflow as tf
                from tensorflow.core.framework import summary_pb2
            except ImportError:
                logger.info("no TensorBoard logs: TensorFlow is not installed (history.csv has every epoch)")
                self._writer = False
                return None
            folder = self.run_dir / "tensorboard" / (f"member_{self.member}" if self.member is not None else "train")
            # the metadata TensorBoard's scalar dashboard reads (what tf.summary.scalar writes)
            metadata = summary_pb2.SummaryMetadata(data_class=summary_pb2.DATA_CLASS_SCALAR)
            metadata.plugin_data.plugin_name = "scalars"
            self._writer = (tf, tf.summary.create_file_writer(str(folder)), metadata.SerializeToString())
        return self._writer or None


def _columns(rows):
    """Every key of ``rows``, in order of first appearance (validation details may differ by epoch)."""
    return list(dict.fromkeys(key for row in rows for key in row))
