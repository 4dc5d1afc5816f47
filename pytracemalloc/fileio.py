"""Writing a file atomically: a temporary file in the same directory,
written whole, flushed to disk, renamed over the target, and the directory
flushed, so a reader sees the old file or the new one, never half of one.
The new file keeps the mode of the one it replaces (else the umask's).
Every failure is a ``SnapshotWriteError`` naming the path, and leaves no
temporary file behind.
"""

import errno
import os


class SnapshotWriteError(OSError):
    """``Snapshot.write``/``dump`` could not write ``filename``: the errno of
    the failure, a message and the path (``OSError(errno, strerror,
    filename)``).  The previous file of that name, if any, is intact and
    no temporary file is left behind."""


def _write_all(fd, data):
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def write_atomically(filename, data):
    """Write ``data`` to a temporary file in ``filename``'s directory, flush
    and fsync it, then rename it over ``filename``.  On any failure the
    temporary file is removed and ``SnapshotWriteError`` names the path."""
    import tempfile
    path = os.fspath(filename)
    directory = os.path.dirname(path) or "."
    base = os.path.basename(path)
    tmp = None
    try:
        fd, tmp = tempfile.mkstemp(prefix="." + base + ".", suffix=".tmp",
                                   dir=directory)
        try:
            os.fchmod(fd, _file_mode(path))
            _write_all(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
        tmp = None
        _fsync_directory(directory)
    except OSError as exc:
        raise SnapshotWriteError(
            exc.errno if exc.errno is not None else errno.EIO,
            "cannot write the snapshot: %s" % (exc.strerror or exc),
            path) from exc
    finally:
        if tmp is not None:
            try:
                os.unlink(tmp)
            except OSError:
                pass


def _file_mode(path):
    """The mode of the file being replaced, else the one a plain open()
    would give (0666 & ~umask), not the 0600 of a temporary file:
    snapshots are read later, by someone else."""
    try:
        return os.stat(path).st_mode & 0o7777
    except OSError:
        pass
    umask = None
    try:
        # Linux 4.7+: read without changing it (os.umask() sets it, which
        # races with other threads creating files).
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("Umask:"):
                    umask = int(line.split()[1], 8)
                    break
    except (OSError, ValueError):
        pass
    if umask is None:
        umask = os.umask(0o022)
        os.umask(umask)
    return 0o666 & ~umask


def _fsync_directory(directory):
    """Make the rename durable; not every file system allows it."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
