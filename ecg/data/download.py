"""Download, verify and extract PhysioNet databases.

What each database is made of lives in a manifest, ``ecg/data/manifests/<name>.json``:
its archives (tried in order), where PhysioNet serves each (``url``), where a mirror
keeps it (``path``, laid out like ``https://physionet.org/files/<db>/<version>/``), the
top folder it extracts to (``root``) and the SHA-256 hashes known to be good.

A download goes through these steps:

1. If ``<dest>/<name>/.ecg-download.json`` (the marker) exists and its extracted folder
   is there, return that folder: nothing is read from the network.
2. Find the expected SHA-256: the source's ``SHA256SUMS.txt`` (next to the archive, and at
   a mirror's root) if it lists the archive, else the manifest's known hashes.
3. Transfer into ``<archive>.part``, resuming an interrupted transfer with an HTTP
   ``Range`` request (or a seek, for a local mirror), and retry a dropped connection.
4. Hash the file. On a mismatch it is moved aside to ``<archive>.corrupt`` and never used;
   on a match it is renamed to ``<archive>`` (atomic on one file system).
5. Extract into a temporary folder, rename the archive's top folder into place, then
   write the marker with the verified hash.

Every failure raises :class:`ecg.errors.DownloadError` saying what happened and what to do.

Examples
--------
>>> from ecg.data.download import download
>>> root = download("ludb", dest="data/downloads", mirror="../shared/data/mirror")  # doctest: +SKIP
>>> sorted(p.name for p in root.iterdir())[:3]                                        # doctest: +SKIP
['ANNOTATORS', 'LICENSE.txt', 'README']
"""
import errno
import hashlib
import json
import os
import shutil
import socket
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from dataclasses import dataclass
from http.client import HTTPException
from importlib import resources
from pathlib import Path, PurePosixPath

from tqdm.auto import tqdm

from ecg import __version__
from ecg.errors import DownloadError

PHYSIONET = "https://physionet.org/files"
DEFAULT_DEST = Path("data") / "downloads"
SUMS_NAME = "SHA256SUMS.txt"
MARKER_NAME = ".ecg-download.json"
CHUNK = 1 << 20
USER_AGENT = f"ecg/{__version__} (+https://physionet.org)"


@dataclass(frozen=True)
class Archive:
    """One downloadable archive of a database, as its manifest describes it.

    Parameters
    ----------
    path : str
        Path under a mirror's base, e.g. ``"ludb/1.0.1/<file>.zip"``.
    url : str or None
        Where PhysioNet serves it; ``None`` when only mirrors hold it.
    root : str
        The archive's top folder, which ``download`` returns once extracted.
    physionet_sha256 : tuple of str
        Known hashes of the archive PhysioNet serves at ``url``.
    mirror_sha256 : tuple of str
        Known hashes of archives found good at ``path`` under a mirror (a mirror may
        also hold PhysioNet's own archive, so it accepts both lists).
    """

    path: str
    url: str | None
    root: str
    physionet_sha256: tuple = ()
    mirror_sha256: tuple = ()

    @property
    def filename(self):
        """The archive's file name."""
        return PurePosixPath(self.path).name


def available():
    """Return the names of the databases that :func:`download` knows, sorted."""
    files = resources.files("ecg.data").joinpath("manifests").iterdir()
    return sorted(f.name[:-len(".json")] for f in files if f.name.endswith(".json"))


def manifest(name):
    """Return the manifest of database ``name`` as a dict (see the module docstring).

    Raises
    ------
    DownloadError
        If no manifest has that name.
    """
    names = available()
    if name not in names:
        raise DownloadError(f"unknown dataset {name!r}: choose one of {', '.join(names)}")
    text = resources.files("ecg.data").joinpath("manifests", f"{name}.json").read_text(encoding="utf-8")
    return json.loads(text)


def archives(name):
    """Return the :class:`Archive` list of database ``name``, in the order they are tried."""
    return [Archive(a["path"], a.get("url"), a["root"], tuple(a["sha256"].get("physionet", ())),
                    tuple(a["sha256"].get("mirror", ())))
            for a in manifest(name)["archives"]]


def download(name, dest=None, mirror=None, progress=True, force=False, verify=True,
             retries=3, timeout=60):
    """Download, verify and extract database ``name``; return its extracted root folder.

    Parameters
    ----------
    name : str
        One of :func:`available`: ``"cinc2017"``, ``"ludb"``, ``"mitdb"``, ``"ptbxl"``, ``"qtdb"``.
    dest : str or Path, optional
        Where downloads go; the database lands in ``<dest>/<name>/``. Default: the
        ``ECG_DATA_DIR`` environment variable, else ``./data/downloads``.
    mirror : str or Path, optional
        Base URL (``http://``, ``https://``, ``file://``) or local folder laid out like
        ``https://physionet.org/files/``. Default: ``ECG_MIRROR``, else PhysioNet itself.
    progress : bool
        Show tqdm progress bars (on stderr).
    force : bool
        Verify and extract again even if the marker says it is done (the archive is
        transferred anew unless the copy on disk still matches its hash).
    verify : bool
        If False, accept an archive whose SHA-256 no source knows (its hash is still
        recorded in the marker). A known hash is always checked.
    retries : int
        How many times a dropped connection is resumed before giving up.
    timeout : float
        Seconds to wait for the server on each request.

    Returns
    -------
    Path
        The extracted top folder, e.g. ``<dest>/ludb/lobachevsky-...-1.0.1``.

    Raises
    ------
    DownloadError
        Unknown name; no network; HTTP error; archive on none of the tried URLs; SHA-256
        mismatch (the file is moved to ``*.corrupt``); disk full; a bad archive.
    """
    candidates = archives(name)
    dest = Path(dest if dest is not None else os.environ.get("ECG_DATA_DIR") or DEFAULT_DEST)
    mirror = mirror if mirror is not None else os.environ.get("ECG_MIRROR") or None
    folder = dest / name
    if not force:
        root = _marked_root(folder)
        if root is not None:
            return root
    source = _Source(mirror, timeout)
    tried = []
    for archive in candidates:
        location = source.locate(archive)
        if location is None or not source.exists(location):
            tried.append(str(location or f"{archive.filename} (PhysioNet does not serve it)"))
            continue
        _makedirs(folder)
        expected = source.expected_sha256(archive, location)
        file, digest = _fetch_verified(source, location, folder / archive.filename, expected,
                                       verify, retries, progress, name)
        return _extract(file, folder, archive.root, digest, location, progress, name)
    raise DownloadError(
        f"dataset {name!r}: no archive found at {', '.join(tried)}; check that the mirror "
        f"holds one of them (laid out like {PHYSIONET}/<db>/<version>/), or use another --mirror")


def sha256sum(path, progress=False, desc=None):
    """Return the SHA-256 hex digest of the file at ``path``."""
    digest = hashlib.sha256()
    size = Path(path).stat().st_size
    with open(path, "rb") as f, tqdm(total=size, unit="B", unit_scale=True, unit_divisor=1024,
                                     desc=desc, disable=not progress, leave=False) as bar:
        for block in iter(lambda: f.read(CHUNK), b""):
            digest.update(block)
            bar.update(len(block))
    return digest.hexdigest()


def parse_sums(text):
    """Parse a ``SHA256SUMS.txt`` text into ``{relative path: hex digest}``.

    Lines are ``<64 hex digits> <path>`` or ``<hex> *<path>``; a leading ``./`` is dropped;
    other lines are ignored.
    """
    sums = {}
    for line in text.splitlines():
        parts = line.strip().split(maxsplit=1)
        if len(parts) != 2:
            continue
        digest, path = parts
        if len(digest) != 64 or not all(c in "0123456789abcdefABCDEF" for c in digest):
            continue
        path = path.lstrip("*")
        sums[path[2:] if path.startswith("./") else path] = digest.lower()
    return sums


def _marked_root(folder):
    """Return the extracted root recorded by the marker in ``folder`` if it is there, else None."""
    try:
        marker = json.loads((folder / MARKER_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    root = folder / marker.get("root", "")
    return root if marker.get("root") and root.is_dir() else None


class _Source:
    """Where archives come from: PhysioNet, an HTTP(S) mirror or a local folder."""

    def __init__(self, mirror, timeout):
        self.timeout = timeout
        self.mirror = None
        self.local = None
        if mirror is not None:
            mirror = os.fspath(mirror)
            if mirror.startswith("file://"):
                self.local = Path(urllib.request.url2pathname(urllib.parse.urlparse(mirror).path))
            elif mirror.startswith(("http://", "https://")):
                self.mirror = mirror.rstrip("/")
            else:
                self.local = Path(mirror)
            if self.local is not None and not self.local.is_dir():
                raise DownloadError(f"mirror folder {self.local} does not exist: give a folder laid "
                                    f"out like {PHYSIONET}/<db>/<version>/ or an http(s) URL")

    def locate(self, archive):
        """Return the URL or local path of ``archive`` at this source, None if it has none."""
        if self.local is not None:
            return self.local / archive.path
        if self.mirror is not None:
            return f"{self.mirror}/{archive.path}"
        return archive.url

    def exists(self, location):
        """Tell whether ``location`` is there (an HTTP ``HEAD`` request for a URL)."""
        if self.local is not None:
            return Path(location).is_file()
        try:
            self.open(location, method="HEAD").close()
        except HttpError as exc:
            if exc.status in (403, 404, 410):
                return False
            raise
        return True

    def expected_sha256(self, archive, location):
        """Return the set of acceptable hashes: the source's SHA256SUMS.txt, else the manifest's."""
        for sums_location, key in self._sums_candidates(archive, location):
            text = self._read_text(sums_location)
            if text is not None and key in (sums := parse_sums(text)):
                return {sums[key]}
        if self.local is None and self.mirror is None:
            return set(archive.physionet_sha256)
        return set(archive.physionet_sha256) | set(archive.mirror_sha256)

    def _sums_candidates(self, archive, location):
        """(SHA256SUMS.txt location, key of the archive in it), most specific first."""
        if self.local is not None:
            return [(location.parent / SUMS_NAME, archive.filename), (self.local / SUMS_NAME, archive.path)]
        parent = location.rsplit("/", 1)[0]
        candidates = [(f"{parent}/{SUMS_NAME}", archive.filename)]
        if self.mirror is not None:
            candidates.append((f"{self.mirror}/{SUMS_NAME}", archive.path))
        return candidates

    def _read_text(self, location):
        """Return the text at ``location``, or None if it is not there."""
        if isinstance(location, Path):
            return location.read_text(encoding="utf-8") if location.is_file() else None
        try:
            with self.open(location) as response:
                return response.read().decode("utf-8", errors="replace")
        except HttpError as exc:
            if exc.status in (403, 404, 410):
                return None
            raise

    def open(self, url, offset=0, method="GET"):
        """Open ``url`` from byte ``offset``; return the response. Raise DownloadError on failure."""
        request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT}, method=method)
        if offset:
            request.add_header("Range", f"bytes={offset}-")
        try:
            return urllib.request.urlopen(request, timeout=self.timeout)
        except urllib.error.HTTPError as exc:
            exc.close()
            raise HttpError(exc.code, exc.reason, url) from None
        except (urllib.error.URLError, OSError, HTTPException) as exc:
            reason = getattr(exc, "reason", exc)
            raise DownloadError(
                f"cannot reach {url} ({reason}). No network? Download the archive on a machine "
                f"that has one and point --mirror (or ECG_MIRROR) at a folder or URL laid out like "
                f"{PHYSIONET}/<db>/<version>/") from exc


class HttpError(DownloadError):
    """The server answered with an HTTP error ``status`` for ``url``."""

    ADVICE = {404: "the file is not there: check the mirror's layout (like "
                   f"{PHYSIONET}/<db>/<version>/)",
              403: "access refused: check the URL, or use another --mirror"}

    def __init__(self, status, reason, url):
        self.status, self.reason, self.url = status, reason, url
        advice = self.ADVICE.get(status, "the server failed: try again later, or use --mirror"
                                 if status >= 500 else "check the URL, or use another --mirror")
        super().__init__(f"HTTP {status} {reason} for {url}: {advice}")

    def __reduce__(self):
        return type(self), (self.status, self.reason, self.url)


class _Interrupted(Exception):
    """A transfer stopped before its end; the partial file is kept for a resume."""


def _fetch_verified(source, location, target, expected, verify, retries, progress, name):
    """Make sure ``target`` holds a verified copy of ``location``; return (path, sha256)."""
    if not expected and verify:
        raise DownloadError(
            f"no known SHA-256 for {location}: neither the source's {SUMS_NAME} nor "
            f"ecg/data/manifests/{name}.json lists it. Add its hash to the manifest, use a mirror "
            f"whose {SUMS_NAME} lists it, or pass verify=False (--no-verify) to accept it unchecked")
    if target.is_file():
        digest = sha256sum(target, progress, desc=f"{name}: verifying {target.name}")
        if not expected or digest in expected:
            return target, digest
        _move_aside(target)
    part = target.with_name(target.name + ".part")
    for attempt in range(retries + 1):
        try:
            _transfer(source, location, part, progress, f"{name}: {target.name}")
            break
        except _Interrupted as exc:
            if attempt == retries:
                raise DownloadError(
                    f"the transfer of {location} was interrupted ({exc}) after {retries + 1} "
                    f"attempt(s); the partial file {part} is kept: run the same command again to "
                    f"resume it") from None
    digest = sha256sum(part, progress, desc=f"{name}: verifying {target.name}")
    if expected and digest not in expected:
        corrupt = _move_aside(part, target)
        raise DownloadError(
            f"SHA-256 mismatch for {location}: expected {' or '.join(sorted(expected))}, got "
            f"{digest}. The file was moved aside to {corrupt} and is not used; run again to "
            f"download it afresh, and if it fails again the source is damaged: use another --mirror")
    os.replace(part, target)
    return target, digest


def _move_aside(path, target=None):
    """Rename a file that failed verification to ``<target>.corrupt``; return the new path."""
    target = target or path
    corrupt = target.with_name(target.name + ".corrupt")
    os.replace(path, corrupt)
    return corrupt


def _transfer(source, location, part, progress, desc):
    """Append ``location`` to ``part`` from the byte where ``part`` ends.

    Raises ``_Interrupted`` when the connection drops (``part`` keeps what arrived).
    """
    offset = part.stat().st_size if part.exists() else 0
    if isinstance(location, Path):
        total = location.stat().st_size
        if offset > total:
            offset = 0
        _check_space(part.parent, total - offset, part)
        with open(location, "rb") as src:
            src.seek(offset)
            _copy(iter(lambda: src.read(CHUNK), b""), part, offset, total, progress, desc)
        return
    try:
        response = source.open(location, offset)
    except HttpError as exc:
        if exc.status != 416:
            raise
        return  # nothing left past ``offset``: the hash decides whether ``part`` is whole
    with response:
        status = getattr(response, "status", 200)
        length = response.headers.get("Content-Length")
        length = int(length) if length is not None else None
        offset = _resume_offset(status, response.headers.get("Content-Range"), offset)
        total = offset + length if length is not None else None
        if length is not None:
            _check_space(part.parent, length, part)
        _copy(_read_chunks(response), part, offset, total, progress, desc)
        received = part.stat().st_size
        if total is not None and received < total:
            raise _Interrupted(f"{received} of {total} bytes received")


def _resume_offset(status, content_range, offset):
    """Byte where the body of a response to ``Range: bytes=<offset>-`` starts.

    A 200 answer (the server ignores ranges) restarts from 0; a 206 starts where its
    ``Content-Range: bytes <start>-<end>/<size>`` says, which must not lie past ``offset``.
    """
    if status != 206:
        return 0
    try:
        start = int(content_range.split()[1].split("-")[0])
    except (AttributeError, IndexError, ValueError):
        return offset
    if start > offset:
        raise DownloadError(f"the server answered 'Range: bytes={offset}-' with 'Content-Range: "
                            f"{content_range}', which leaves a gap; delete the .part file and run again")
    return start


def _read_chunks(response):
    """Yield the body of ``response`` in chunks; a dropped connection raises ``_Interrupted``."""
    while True:
        try:
            block = response.read(CHUNK)
        except (HTTPException, ConnectionError, socket.timeout, TimeoutError) as exc:
            raise _Interrupted(f"{type(exc).__name__}: {exc}") from None
        if not block:
            return
        yield block


def _copy(chunks, part, offset, total, progress, desc):
    """Write ``chunks`` to ``part`` (truncated to ``offset`` bytes first), with a progress bar."""
    mode = "r+b" if offset and part.exists() else "wb"
    with tqdm(total=total, initial=offset, unit="B", unit_scale=True, unit_divisor=1024,
              desc=desc, disable=not progress) as bar:
        try:
            with open(part, mode) as out:
                out.seek(offset)
                out.truncate()
                for block in chunks:
                    out.write(block)
                    bar.update(len(block))
                out.flush()
                os.fsync(out.fileno())
        except OSError as exc:
            if exc.errno == errno.ENOSPC:
                raise _disk_full(part) from exc
            raise DownloadError(f"cannot write {part}: {exc}") from exc


def _check_space(folder, needed, path):
    if shutil.disk_usage(folder).free < needed:
        raise _disk_full(path, needed)


def _disk_full(path, needed=None):
    need = f" ({needed / 2**20:.1f} MiB needed)" if needed else ""
    return DownloadError(f"disk full while writing {path}{need}: free some space, or choose another "
                         f"destination with --dest (or ECG_DATA_DIR), then run again to resume")


def _makedirs(folder):
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DownloadError(f"cannot create the download folder {folder}: {exc}; choose another "
                            f"with --dest (or ECG_DATA_DIR)") from exc


def _extract(archive, folder, root, digest, location, progress, name):
    """Extract ``archive``'s top folder ``root`` into ``folder`` and write the marker; return it."""
    tmp = folder / f".extract-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        with zipfile.ZipFile(archive) as zf:
            members = zf.infolist()
            _check_members(members, root, archive)
            _check_space(folder, sum(m.file_size for m in members), folder / root)
            for member in tqdm(members, desc=f"{name}: extracting", unit="file", disable=not progress):
                zf.extract(member, tmp)
        final = folder / root
        if final.exists():
            shutil.rmtree(final)
        os.replace(tmp / root, final)
    except zipfile.BadZipFile as exc:
        raise DownloadError(f"{archive} is not a valid zip archive ({exc}) although its SHA-256 "
                            f"matched: the source's checksum list is wrong; use another --mirror") from exc
    except OSError as exc:
        if exc.errno == errno.ENOSPC:
            raise _disk_full(folder / root) from exc
        raise DownloadError(f"cannot extract {archive} into {folder}: {exc}") from exc
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    marker = {"dataset": name, "archive": archive.name, "sha256": digest,
              "source": str(location), "root": root}
    tmp_marker = folder / (MARKER_NAME + ".tmp")
    tmp_marker.write_text(json.dumps(marker, indent=2), encoding="utf-8")
    os.replace(tmp_marker, folder / MARKER_NAME)
    return final


def _check_members(members, root, archive):
    """Refuse archives whose members escape the top folder ``root`` (zip slip) or lack it."""
    for member in members:
        parts = PurePosixPath(member.filename).parts
        if member.filename.startswith("/") or ".." in parts or not parts or parts[0] != root:
            raise DownloadError(f"{archive}: member {member.filename!r} is outside the expected top "
                                f"folder {root!r}; the archive is not the expected one, use another --mirror")
