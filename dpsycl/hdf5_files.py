"""HDF5 files below h5py: the consistency flags a killed SWMR writer leaves set, and a writer's lock.

A writer in HDF5's SWMR mode (single writer, multiple readers) marks the file "open for (SWMR)
writing" in its superblock and clears the mark when it closes.  A writer that never closes (killed,
out of memory, power lost) leaves the mark, and HDF5 then refuses to open the file except for SWMR
reading, printing "may use <h5clear file>".  ``clear_writer_flags`` does what ``h5clear -s
--increment=0`` does, from the file format specification (HDF5 File Format Specification 3.0,
II.A, superblock versions 2 and 3)::

    offset 0        signature  89 48 44 46 0d 0a 1a 0a   (at 0, or 512, 1024, 2048, ... after a user block)
           8        superblock version (2 or 3)
           9, 10    size of offsets O, size of lengths
           11       file consistency flags (version 3: bit 0 open for writing, bit 2 open for SWMR writing)
           12       base address, superblock extension address, end-of-file address (EOA),
                    root group object header address: O bytes each, little-endian, relative to the base
           12 + 4·O checksum: Jenkins' lookup3 ``hashlittle`` of the bytes before it, seed 0

It sets the flags to 0 and makes the end-of-allocation address (EOA) and the file's size agree, as
HDF5 requires of a file it opens without SWMR: a writer killed between two superblock writes may
have written past the EOA it last recorded (the EOA is raised to the file's size, ``h5clear
--increment``), and a writer stopped by a full disk may have recorded space it then failed to
write (the file is extended to the EOA; the missing bytes read as zeros and belong to no complete
frame: a frame is complete only once all of it was written).  The superblock is written back with
its checksum; one whose stored checksum is not reproduced is refused.

The SWMR writer gives up HDF5's own file lock (flock) so that readers can open the file, so HDF5
no longer stops a second writer.  :class:`WriterLock` takes that role: an open-file-description
lock (fcntl ``F_OFD_SETLK``) on one byte far past any real file size, held for the writer's
lifetime and released by the kernel when the process dies.  Linux keeps these locks apart from
flock, so readers locking the file the HDF5 way are not disturbed.

Text: ``fixed_text`` and ``fixed_texts`` store strings as fixed-length UTF-8 bytes, never as HDF5's
variable-length strings, which live in a global heap; HDF5 1.14 parses a damaged global heap
collection (an object 0 of size 0: 64 zero bytes over it do that) in an endless loop, so a damaged
file must not hold the text dpsycl reads back.  ``text`` reads either kind back as ``str``.

Failed writes: ``freeze`` detaches an h5py File from its file after a write failed (disk full,
file-size limit), and ``io_failure_reason`` words why the write failed.
"""
from __future__ import annotations

import errno
import fcntl
import os
import re
import resource
import struct

import numpy as np

from .formats import HDF5_MAGIC

SIGNATURE = HDF5_MAGIC
WRITING, SWMR_WRITING = 0b001, 0b100   # consistency flags: open for writing, open for SWMR writing
LOCK_OFFSET = 1 << 62               # the locked byte: past any file, inside off_t
ROOM = 1 << 16                      # bytes: less room than this left is "full" when HDF5 gives no errno
_MASK = 0xFFFFFFFF


class HDF5FileError(OSError):
    """A file whose superblock cannot be read or safely rewritten."""


def fixed_text(value: str) -> np.bytes_:
    """One string as an HDF5 fixed-length string of its UTF-8 bytes (module docstring: no global heap)."""
    return np.bytes_(value.encode("utf-8"))


def fixed_texts(values) -> np.ndarray:
    """Strings as an array of fixed-length UTF-8 byte strings, for a dataset or an array attribute."""
    return np.array([str(v).encode("utf-8") for v in values], dtype=bytes)


def text(value) -> str:
    """An attribute or element read back as str, whether stored fixed-length (bytes) or variable-length."""
    if isinstance(value, (bytes, np.bytes_)):
        return bytes(value).decode("utf-8", "replace")
    return str(value)


def _rot(x: int, k: int) -> int:
    return ((x << k) | (x >> (32 - k))) & _MASK


def lookup3(data: bytes, seed: int = 0) -> int:
    """Bob Jenkins' lookup3 ``hashlittle`` (HDF5's H5_checksum_lookup3), little-endian words."""
    length = len(data)
    a = b = c = (0xDEADBEEF + length + seed) & _MASK
    k = 0
    while length - k > 12:
        wa, wb, wc = struct.unpack_from("<III", data, k)
        a, b, c = (a + wa) & _MASK, (b + wb) & _MASK, (c + wc) & _MASK
        # mix(a, b, c)
        a = (a - c) & _MASK; a ^= _rot(c, 4); c = (c + b) & _MASK      # noqa: E702
        b = (b - a) & _MASK; b ^= _rot(a, 6); a = (a + c) & _MASK      # noqa: E702
        c = (c - b) & _MASK; c ^= _rot(b, 8); b = (b + a) & _MASK      # noqa: E702
        a = (a - c) & _MASK; a ^= _rot(c, 16); c = (c + b) & _MASK     # noqa: E702
        b = (b - a) & _MASK; b ^= _rot(a, 19); a = (a + c) & _MASK     # noqa: E702
        c = (c - b) & _MASK; c ^= _rot(b, 4); b = (b + a) & _MASK      # noqa: E702
        k += 12
    if length == k:
        return c                        # lookup3 returns c unmixed for an empty tail
    wa, wb, wc = struct.unpack("<III", data[k:].ljust(12, b"\0"))
    a, b, c = (a + wa) & _MASK, (b + wb) & _MASK, (c + wc) & _MASK
    # final(a, b, c)
    c ^= b; c = (c - _rot(b, 14)) & _MASK      # noqa: E702
    a ^= c; a = (a - _rot(c, 11)) & _MASK      # noqa: E702
    b ^= a; b = (b - _rot(a, 25)) & _MASK      # noqa: E702
    c ^= b; c = (c - _rot(b, 16)) & _MASK      # noqa: E702
    a ^= c; a = (a - _rot(c, 4)) & _MASK       # noqa: E702
    b ^= a; b = (b - _rot(a, 14)) & _MASK      # noqa: E702
    c ^= b; c = (c - _rot(b, 24)) & _MASK      # noqa: E702
    return c


def _superblock(fh, path) -> tuple[int, bytearray]:
    """(offset, bytes) of a version 2/3 superblock; version 0/1 superblocks give (offset, b'') ."""
    size = os.fstat(fh.fileno()).st_size
    offset = 0
    while offset + 8 <= size:
        fh.seek(offset)
        if fh.read(8) == SIGNATURE:
            head = fh.read(4)
            if len(head) < 4:
                break
            version, width = head[0], head[1]
            if version < 2:
                return offset, bytearray()
            if width not in (2, 4, 8):
                raise HDF5FileError(f"{path}: superblock with {width}-byte addresses")
            fh.seek(offset)
            block = bytearray(fh.read(12 + 4 * width + 4))
            if len(block) < 12 + 4 * width + 4:
                break
            return offset, block
        offset = 512 if offset == 0 else 2 * offset
    raise HDF5FileError(f"{path} is not an HDF5 file (no superblock found)")


def superblock_version(path) -> int:
    """0–3: the version of the file's superblock (SWMR needs 3)."""
    with open(path, "rb") as fh:
        _, block = _superblock(fh, path)
    return block[8] if block else 0


def writer_flags(path) -> int:
    """The superblock's consistency flags: non-zero while a writer has the file open, or after a
    writer died without closing it."""
    with open(path, "rb") as fh:
        _, block = _superblock(fh, path)
    return block[11] if block else 0


def writer_flags_if_readable(path) -> int:
    """:func:`writer_flags`, or 0 where ``path`` is no regular file or its superblock cannot be read."""
    try:
        return writer_flags(path) if os.path.isfile(path) else 0
    except OSError:
        return 0


def clear_writer_flags(path) -> bool:
    """Clear the flags a dead writer left (``h5clear -s``) and make the EOA and the file's size agree.
    Returns whether anything was changed.  Call it only when no writer is alive (:class:`WriterLock`)."""
    with open(path, "r+b") as fh:
        offset, block = _superblock(fh, path)
        if not block or block[11] == 0:
            return False
        width = block[9]
        body = len(block) - 4
        stored = struct.unpack_from("<I", block, body)[0]
        if lookup3(bytes(block[:body])) != stored:
            raise HDF5FileError(f"{path}: the superblock's checksum does not match its contents; "
                                "not rewriting it (h5clear -s may repair it)")
        fmt = {2: "<H", 4: "<I", 8: "<Q"}[width]
        base = struct.unpack_from(fmt, block, 12)[0]
        eoa_at = 12 + 2 * width
        eoa = struct.unpack_from(fmt, block, eoa_at)[0]
        size = os.fstat(fh.fileno()).st_size - base
        block[11] = 0
        if size > eoa:
            struct.pack_into(fmt, block, eoa_at, size)
        elif size < eoa:
            os.ftruncate(fh.fileno(), base + eoa)      # a hole: no disk space is needed for it
        struct.pack_into("<I", block, body, lookup3(bytes(block[:body])))
        fh.seek(offset)
        fh.write(block)
        fh.flush()
        os.fsync(fh.fileno())
    return True


class WriterLock:
    """An exclusive lock saying "a writer is alive" on an HDF5 file, held until :meth:`release` or
    the process's end.  Where the filesystem has no such locks (some network filesystems), the
    lock is not taken and :attr:`held` is False: nothing then stops two writers, as with HDF5's
    own locking switched off."""

    def __init__(self, path):
        self.path = os.fspath(path)
        self._fd: int | None = os.open(self.path, os.O_RDWR)   # a write lock needs a writable description
        self.held = False
        try:
            _lock(self._fd, fcntl.F_WRLCK)
            self.held = True
        except BlockingIOError:
            self.release()
            raise
        except OSError as exc:
            if exc.errno not in (errno.ENOLCK, errno.EINVAL, errno.EOPNOTSUPP, errno.ENOSYS):
                self.release()
                raise

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)            # closing the description drops its lock
            self._fd = None
            self.held = False


def writer_alive(path) -> bool:
    """Whether a live process writes ``path``: holds its :class:`WriterLock`, or HDF5's own exclusive
    lock (a writer not in SWMR mode, which keeps it)."""
    try:
        WriterLock(path).release()
    except BlockingIOError:
        return True
    except (PermissionError, IsADirectoryError):
        return False
    fd = os.open(path, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    except OSError:
        return False               # no flock here (HDF5 then cannot lock either)
    finally:
        os.close(fd)               # releases the shared lock with the description
    return False


def _lock(fd: int, kind: int) -> None:
    """An open-file-description lock (``F_OFD_SETLK``, non-blocking) on the byte at LOCK_OFFSET;
    BlockingIOError when another description holds a conflicting one."""
    command = getattr(fcntl, "F_OFD_SETLK", None)
    # struct flock: short l_type, short l_whence, off_t l_start, off_t l_len, pid_t l_pid (0 for OFD)
    packed = struct.pack("hh4xqqi4x", kind, os.SEEK_SET, LOCK_OFFSET, 1, 0)
    try:
        if command is None:       # no OFD locks (not Linux): a process-wide POSIX record lock
            fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB, 1, LOCK_OFFSET)
        else:
            fcntl.fcntl(fd, command, packed)
    except OSError as exc:
        if exc.errno in (errno.EAGAIN, errno.EACCES):
            raise BlockingIOError(exc.errno, f"{os.strerror(exc.errno)}") from None
        raise


def io_failure_reason(exc: BaseException, written) -> str:
    """Why writing ``written`` failed: 'No space left on device (ENOSPC)' from an h5py error's errno;
    without one (HDF5 reports some failures only as their consequence), a file-size limit or a full
    filesystem if either is reached, else HDF5's text."""
    text = " ".join(str(exc).split())
    found = re.search(r"errno = (\d+)", text)
    code = int(found.group(1)) if found else getattr(exc, "errno", None)
    if code:
        return f"{os.strerror(code)} ({errno.errorcode.get(code, code)})"
    size = os.path.getsize(written) if os.path.exists(written) else 0
    limit = resource.getrlimit(resource.RLIMIT_FSIZE)[0]
    if limit != resource.RLIM_INFINITY and size + ROOM >= limit:
        return f"{os.strerror(errno.EFBIG)} (EFBIG: the file-size limit, ulimit -f, is {limit} bytes)"
    disk = os.statvfs(os.path.dirname(os.path.abspath(written)))
    if disk.f_bavail * disk.f_frsize < ROOM:
        return f"{os.strerror(errno.ENOSPC)} (ENOSPC)"
    return text or type(exc).__name__


def freeze(f) -> None:
    """Detach an open h5py File from its file on disk: its descriptor is made /dev/null, so every
    later write of HDF5 (the rest of a flush, closing: a superblock claiming space that was never
    written) goes nowhere and succeeds.  HDF5 can then close the file and let go of it, and the
    file on disk stays exactly as the failed write left it -- as a killed writer leaves a file.
    Measured with a file-size limit (HDF5 1.14.6): letting HDF5 close after the failed write
    instead left a superblock with an end of allocation past the end of the file ("truncated
    file": unreadable) and the process crashed in HDF5 at exit."""
    try:
        fd = f.id.get_vfd_handle()
    except (OSError, RuntimeError, ValueError):
        return
    null = os.open(os.devnull, os.O_RDWR)
    try:
        os.dup2(null, fd)
    finally:
        os.close(null)


def unreadable_chunk_index(f) -> str | None:
    """The first chunked dataset of the open file ``f`` whose chunk index (and last row) cannot be read, or None.

    Read before a writer starts HDF5's SWMR mode: a plain open gives up on a metadata block whose checksum fails
    after one read, where an SWMR writer retries it with sleeps that double each time, so a damaged index hung
    ``--restart`` inside HDF5 for good (4 KB of random bytes over an observable's index, found by
    tests/test_fuzz.py on a file layout of session 34's)."""
    import h5py

    found = []

    def check(name, obj):
        if found or not isinstance(obj, h5py.Dataset) or obj.chunks is None:
            return None
        try:
            obj.id.get_num_chunks()              # walks the whole index
            if obj.shape and obj.shape[0]:
                obj[obj.shape[0] - 1]
        except (RuntimeError, OSError, KeyError, ValueError):
            found.append(name)
        return None
    f.visititems(check)
    return found[0] if found else None
