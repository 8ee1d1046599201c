"""An exclusive lock on a file, held by one process (or thread) at a time.

Two processes writing the same target (two ``ecg download`` runs into one folder, two
processes saving one model path) take the lock of that target first: the second waits
until the first is done, then sees its complete result instead of a half-written one.
"""
import os
import sys
from contextlib import contextmanager

if sys.platform == "win32":
    import msvcrt

    def _lock(fd):
        os.lseek(fd, 0, os.SEEK_SET)
        while True:
            try:
                msvcrt.locking(fd, msvcrt.LK_LOCK, 1)     # retries for 10 s, then raises
                return
            except OSError:
                continue

    def _try_lock(fd):
        os.lseek(fd, 0, os.SEEK_SET)
        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
            return True
        except OSError:
            return False

    def _unlock(fd):
        os.lseek(fd, 0, os.SEEK_SET)
        msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)
else:
    import fcntl

    def _lock(fd):
        fcntl.flock(fd, fcntl.LOCK_EX)

    def _try_lock(fd):
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            return False

    def _unlock(fd):
        fcntl.flock(fd, fcntl.LOCK_UN)


@contextmanager
def file_lock(path, on_wait=None):
    """Hold an exclusive lock on the file ``path`` inside the ``with`` block.

    The lock is the operating system's (``flock`` on Unix): it is released when the holder
    exits, even when it is killed, so a crashed writer never leaves a lock behind. The
    file exists while someone holds the lock: the holder removes it on release (on Unix;
    a waiter that finds its file removed or replaced takes the new one), so nothing is
    left beside the target.

    Parameters
    ----------
    path : str or Path
        The lock file, e.g. ``<folder>/.ecg-download.lock``.
    on_wait : callable, optional
        Called once, with no argument, when another holder makes this one wait.

    Examples
    --------
    >>> import tempfile, os
    >>> folder = tempfile.mkdtemp()
    >>> with file_lock(os.path.join(folder, ".lock")):
    ...     os.listdir(folder)
    ['.lock']
    >>> os.listdir(folder)
    []
    """
    path = os.fspath(path)
    waited = False
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            if not _try_lock(fd):
                if on_wait is not None and not waited:
                    on_wait()
                waited = True
                _lock(fd)
            if sys.platform == "win32" or _same_file(fd, path):
                break
            _unlock(fd)               # the holder before removed this file: lock the current one
        except BaseException:
            os.close(fd)
            raise
        os.close(fd)
    try:
        yield
    finally:
        try:
            if sys.platform != "win32":
                os.unlink(path)
        finally:
            _unlock(fd)
            os.close(fd)


def _same_file(fd, path):
    """True when the open file ``fd`` is still the file at ``path``."""
    try:
        current = os.stat(path)
    except FileNotFoundError:
        return False
    opened = os.fstat(fd)
    return (opened.st_dev, opened.st_ino) == (current.st_dev, current.st_ino)
