"""Download, verify and extract PhysioNet databases.

What each database is made of lives in a manifest, ``ecg/data/manifests/<name>.json``:
its archives (tried in order), where PhysioNet serves each (``url``), where a mirror
keeps it (``path``, laid out like ``https://physionet.org/files/<db>/<version>/``), the
top folder it extracts to (``root``), the SHA-256 hashes known to be good and, for an
archive that holds a whole PhysioNet project, that project's folder (``files``, e.g.
``"mitdb/1.0.0"``).

A database arrives in one of two modes, and either way lands in ``<dest>/<name>/<root>/``:

- **archive**: the zip, verified by its SHA-256, then extracted. Used when the archive's
  hash is known: the source's ``SHA256SUMS.txt`` lists it (a mirror's, or PhysioNet's for
  an archive that is a file of a project, like CinC 2017's ``training2017.zip``) or the
  manifest does. With ``verify=False`` (``--no-verify``) an archive of unknown hash is
  taken too.
- **files**: PhysioNet builds its whole-project zips on demand and publishes no hash for
  them, but ``<files>/SHA256SUMS.txt`` lists the hash of every file of the project. When
  the archive's hash is unknown (or it is absent, or ``files=True`` / ``--files`` asks for
  it) and the source has that list, every file it names is downloaded from ``<files>/``
  and verified on its own. The list is checked against nothing but the transport (HTTPS
  from PhysioNet); the files are checked against the list.

An archive download goes through these steps:

1. If ``<dest>/<name>/.ecg-download.json`` (the marker) exists and its extracted folder
   is there, return that folder: nothing is read from the network (in both modes).
   Otherwise take ``<dest>/<name>/.ecg-download.lock`` (a second download into the same
   folder waits for the first, then finds its marker) and remove the temporary folders
   a killed run left.
2. Find the expected SHA-256: the source's ``SHA256SUMS.txt`` (next to the archive, and at
   a mirror's root) if it lists the archive, else the manifest's known hashes.
3. Transfer into ``<archive>.part``, resuming an interrupted transfer with an HTTP
   ``Range`` request (or a seek, for a local mirror), and retry a dropped connection.
4. Hash the file. On a mismatch it is moved aside to ``<archive>.corrupt`` and never used;
   on a match it is renamed to ``<archive>`` (atomic on one file system).
5. Remove the marker, extract into a temporary folder, rename the old tree aside and the
   archive's top folder into place, then write the marker with the verified hash
   (``"mode": "archive"``) and delete the old tree: a run killed at any point (a forced
   one too) leaves no marker or a marker beside a whole tree.

A per-file download goes through these steps:

1. Read ``<files>/SHA256SUMS.txt`` from the source; refuse a path in it that leaves the
   project folder.
2. Remove the marker. With :data:`FILE_WORKERS` threads, each keeping one HTTP connection
   alive from file to file: skip a file already in ``<root>/`` whose hash matches; else transfer it into
   ``<file>.part`` (resumed with ``Range``, retried when dropped), hash it, and rename it
   into place, or move it aside to ``<file>.corrupt`` on a mismatch. The first failure
   stops the run; files verified so far stay, so running again resumes.
3. Once every file is verified, save the list as ``<root>/SHA256SUMS.txt`` (as the zip
   has it) and write the marker with ``"mode": "files"`` and the list's own SHA-256.

Every failure raises :class:`ecg.errors.DownloadError` saying what happened and what to do.

Examples
--------
>>> from ecg.data.download import download
>>> root = download("ludb", dest="data/downloads", mirror="../shared/data/mirror")  # doctest: +SKIP
>>> sorted(p.name for p in root.iterdir())[:3]                                        # doctest: +SKIP
['ANNOTATORS', 'LICENSE.txt', 'README']
>>> root = download("mitdb", dest="data/downloads", files=True)  # PhysioNet, per file # doctest: +SKIP
"""
import errno
import hashlib
import http.client
import json
import os
import shutil
import socket
import sys
import threading
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from concurrent.futures import ThreadPoolExecutor, as_completed
from contextlib import nullcontext
from dataclasses import dataclass
from http.client import HTTPException
from importlib import resources
from pathlib import Path, PurePosixPath

from tqdm.auto import tqdm

from ecg import __version__
from ecg.errors import DownloadError
from ecg.locks import file_lock

PHYSIONET = "https://physionet.org/files"
DEFAULT_DEST = Path("data") / "downloads"
SUMS_NAME = "SHA256SUMS.txt"
MARKER_NAME = ".ecg-download.json"
LOCK_NAME = ".ecg-download.lock"
CHUNK = 1 << 20
FILE_WORKERS = 4
MAX_REDIRECTS = 5
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
    files : str or None
        The project folder whose every file the archive holds under ``root``, e.g.
        ``"mitdb/1.0.0"``: its ``SHA256SUMS.txt`` allows a per-file download. ``None``
        when the archive is not a whole project (CinC 2017's ``training2017.zip``).
    """

    path: str
    url: str | None
    root: str
    physionet_sha256: tuple = ()
    mirror_sha256: tuple = ()
    files: str | None = None

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
                    tuple(a["sha256"].get("mirror", ())), a.get("files"))
            for a in manifest(name)["archives"]]


def download(name, dest=None, mirror=None, progress=True, force=False, verify=True,
             retries=3, timeout=60, files=False):
    """Download and verify database ``name``; return its extracted root folder.

    The archive is used when its SHA-256 is known; otherwise, when the source has the
    project's ``SHA256SUMS.txt``, each file is downloaded and verified on its own (see the
    module docstring for both modes).

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
        Verify again even if the marker says it is done: an archive is extracted again
        (and transferred anew unless the copy on disk still matches its hash); in per-file
        mode every file is hashed again and only the missing or damaged ones transferred.
    verify : bool
        If False, accept an archive whose SHA-256 no source knows (its hash is still
        recorded in the marker) instead of falling back to per-file mode. A known hash is
        always checked, and per-file mode always verifies.
    retries : int
        How many times a dropped connection is resumed (per file) before giving up.
    timeout : float
        Seconds to wait for the server on each request.
    files : bool
        Skip the archive and download file by file from the project's ``SHA256SUMS.txt``.

    Returns
    -------
    Path
        The extracted top folder, e.g. ``<dest>/ludb/lobachevsky-...-1.0.1``.

    Raises
    ------
    DownloadError
        Unknown name; no network; HTTP error; neither an archive nor a file list on the
        tried URLs; unknown archive hash and no file list; SHA-256 mismatch (the file is
        moved to ``*.corrupt``); disk full; a bad archive or file list.
    """
    candidates = archives(name)
    dest = Path(dest if dest is not None else os.environ.get("ECG_DATA_DIR") or DEFAULT_DEST)
    mirror = mirror if mirror is not None else os.environ.get("ECG_MIRROR") or None
    folder = dest / name
    if not force and not _stale_temporaries(folder):
        root = _marked_root(folder)
        if root is not None:
            return root
    source = _Source(mirror, timeout)
    _makedirs(folder)
    # One writer at a time in <dest>/<name>: a second run waits, then finds the first's result.
    def waiting():
        if progress:
            print(f"{name}: waiting for another download into {folder} to finish", file=sys.stderr, flush=True)

    with file_lock(folder / LOCK_NAME, on_wait=waiting):
        for stale in _stale_temporaries(folder):
            shutil.rmtree(stale, ignore_errors=True)
        if not force:
            root = _marked_root(folder)
            if root is not None:
                return root
        return _download(name, candidates, folder, source, verify, retries, progress, files)


def _download(name, candidates, folder, source, verify, retries, progress, files):
    """The body of :func:`download` once ``folder`` is locked and no marker is trusted."""
    tried_archives, tried_lists = [], []
    for archive in candidates:
        location = None
        if not files:
            location = source.locate(archive)
            if location is None or not source.exists(location):
                tried_archives.append(str(location or f"{archive.filename} (PhysioNet does not serve it)"))
                location = None
            elif (expected := source.expected_sha256(archive, location)) or not verify:
                file, digest = _fetch_verified(source, location, folder / archive.filename, expected,
                                               retries, progress, name)
                return _extract(file, folder, archive.root, digest, location, progress, name)
        if archive.files is not None:
            sums_location, listing = source.file_list(archive)
            if listing is not None:
                return _fetch_files(source, archive, folder, sums_location, listing, retries,
                                    progress, name)
            tried_lists.append(str(sums_location))
        if location is not None:
            raise DownloadError(
                f"no known SHA-256 for {location}: neither the source's {SUMS_NAME} nor "
                f"ecg/data/manifests/{name}.json lists it, and the source has no per-file list "
                f"({SUMS_NAME} of the project) to verify each file instead. Add the archive's hash "
                f"to the manifest, use a mirror whose {SUMS_NAME} lists it, or pass verify=False "
                f"(--no-verify) to accept it unchecked")
    if not tried_archives and not tried_lists:
        raise DownloadError(f"dataset {name!r}: none of its archives can be fetched file by file "
                            f"(no 'files' entry in ecg/data/manifests/{name}.json): leave out --files")
    found = [f"no archive found at {', '.join(tried_archives)}"] if tried_archives else []
    found += [f"no per-file list found at {', '.join(tried_lists)}"] if tried_lists else []
    raise DownloadError(
        f"dataset {name!r}: {'; '.join(found)}; check that the mirror holds one of them (laid out "
        f"like {PHYSIONET}/<db>/<version>/), or use another --mirror")


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


def _stale_temporaries(folder):
    """Temporary folders a killed extraction left in ``folder`` (only a lock holder makes them)."""
    try:
        return [folder / entry for entry in os.listdir(folder) if entry.startswith((".extract-", ".old-"))]
    except OSError:
        return []


def _remove_marker(folder):
    """Stop trusting ``folder``'s tree before changing it: the marker is written again once it is whole."""
    try:
        (folder / MARKER_NAME).unlink()
    except FileNotFoundError:
        pass
    except OSError as exc:
        raise DownloadError(f"cannot remove {folder / MARKER_NAME}: {exc}") from exc


def _marked_root(folder):
    """Return the extracted root recorded by the marker in ``folder`` if it is there, else None."""
    try:
        marker = json.loads((folder / MARKER_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    root = folder / marker.get("root", "")
    return root if marker.get("root") and root.is_dir() else None


class _Source:
    """Where archives and files come from: PhysioNet, an HTTP(S) mirror or a local folder."""

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

    def file_location(self, archive, relative):
        """Return the URL or local path of file ``relative`` of ``archive``'s project folder."""
        if self.local is not None:
            return self.local / archive.files / relative
        base = self.mirror if self.mirror is not None else PHYSIONET
        return f"{base}/{archive.files}/{urllib.parse.quote(relative)}"

    def file_list(self, archive):
        """Return (location, bytes) of the project's SHA256SUMS.txt; bytes are None if it is absent."""
        location = self.file_location(archive, SUMS_NAME)
        return location, self._read_bytes(location)

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
        data = self._read_bytes(location)
        return None if data is None else data.decode("utf-8", errors="replace")

    def _read_bytes(self, location):
        """Return the content of ``location``, or None if it is not there."""
        if isinstance(location, Path):
            return location.read_bytes() if location.is_file() else None
        try:
            with self.open(location) as response:
                return response.read()
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
            raise _unreachable(url, exc) from exc


def _unreachable(url, exc):
    reason = getattr(exc, "reason", exc)
    return DownloadError(
        f"cannot reach {url} ({reason}). No network? Download the archive on a machine "
        f"that has one and point --mirror (or ECG_MIRROR) at a folder or URL laid out like "
        f"{PHYSIONET}/<db>/<version>/")


class _Connection:
    """The HTTP(S) connections of one thread, one per host, kept alive from request to request.

    Many small files over one connection each skip a TCP and TLS handshake per file.
    """

    def __init__(self, timeout):
        self.timeout = timeout
        self.hosts = {}

    def open(self, url, offset=0):
        """GET ``url`` from byte ``offset``; return the response, which must be read to its end
        (or the connection closed with :meth:`close`). Follows redirects."""
        for _ in range(MAX_REDIRECTS + 1):
            response = self._get(url, offset)
            location = response.getheader("Location")
            if response.status in (301, 302, 303, 307, 308) and location:
                response.read()
                url = urllib.parse.urljoin(url, location)
                continue
            if response.status >= 400:
                response.read()
                raise HttpError(response.status, response.reason, url)
            return response
        raise DownloadError(f"more than {MAX_REDIRECTS} redirects for {url}: use another --mirror")

    def _get(self, url, offset):
        parts = urllib.parse.urlsplit(url)
        conn = self.hosts.get((parts.scheme, parts.netloc))
        if conn is None:
            kind = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
            conn = self.hosts[(parts.scheme, parts.netloc)] = kind(parts.netloc, timeout=self.timeout)
        headers = {"User-Agent": USER_AGENT}
        if offset:
            headers["Range"] = f"bytes={offset}-"
        target = parts.path + (f"?{parts.query}" if parts.query else "")
        # A kept-alive connection the server has closed since fails on first use: open a new one.
        reused = conn.sock is not None
        while True:
            if conn.sock is None:
                try:
                    conn.connect()
                except OSError as exc:
                    conn.close()
                    raise _unreachable(url, exc) from exc
            try:
                conn.request("GET", target, headers=headers)
                return conn.getresponse()
            except (HTTPException, OSError) as exc:
                conn.close()
                if not reused:
                    raise _Interrupted(f"{type(exc).__name__}: {exc}") from None
                reused = False

    def close(self):
        """Close every connection (a later request opens a new one)."""
        for conn in self.hosts.values():
            conn.close()


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


def _fetch_verified(source, location, target, expected, retries, progress, name):
    """Make sure ``target`` holds a copy of ``location`` whose hash is in ``expected`` (any
    hash if it is empty); return (path, sha256)."""
    if target.is_file():
        digest = sha256sum(target, progress, desc=f"{name}: verifying {target.name}")
        if not expected or digest in expected:
            return target, digest
        _move_aside(target)
    digest = _transfer_verified(source.open, location, target, expected, retries,
                                _bytes_bar(f"{name}: {target.name}", progress),
                                progress=progress, desc=f"{name}: verifying {target.name}")
    return target, digest


def _transfer_verified(open_at, location, target, expected, retries, bar, sync=True, on_drop=None,
                       progress=False, desc=None):
    """Transfer ``location`` into ``<target>.part`` (resumed, retried ``retries`` times after a
    drop, calling ``on_drop`` each time), hash it and rename it to ``target`` if its hash is in
    ``expected`` (any hash if it is empty); return the hash. ``open_at``, ``bar``, ``sync``: see
    :func:`_transfer`; ``progress``, ``desc``: the hashing bar."""
    part = target.with_name(target.name + ".part")
    for attempt in range(retries + 1):
        try:
            _transfer(open_at, location, part, bar, sync)
            break
        except _Interrupted as exc:
            if on_drop is not None:
                on_drop()
            if attempt == retries:
                raise DownloadError(
                    f"the transfer of {location} was interrupted ({exc}) after {retries + 1} "
                    f"attempt(s); the partial file {part} is kept: run the same command again to "
                    f"resume it") from None
    digest = sha256sum(part, progress, desc=desc)
    if expected and digest not in expected:
        corrupt = _move_aside(part, target)
        raise DownloadError(
            f"SHA-256 mismatch for {location}: expected {' or '.join(sorted(expected))}, got "
            f"{digest}. The file was moved aside to {corrupt} and is not used; run again to "
            f"download it afresh, and if it fails again the source is damaged: use another --mirror")
    os.replace(part, target)
    return digest


def _fetch_files(source, archive, folder, sums_location, listing, retries, progress, name):
    """Download into ``folder/<root>/`` every file that ``listing`` (the bytes of the project's
    SHA256SUMS.txt, read from ``sums_location``) names, each verified; write the marker and
    return that root folder."""
    sums = parse_sums(listing.decode("utf-8", errors="replace"))
    if not sums:
        raise DownloadError(f"{sums_location} lists no file with its SHA-256: it is not a PhysioNet "
                            f"checksum list; use another --mirror, or leave out --files")
    for relative in sums:
        parts = PurePosixPath(relative).parts
        if not parts or relative.startswith("/") or "\\" in relative or ".." in parts:
            raise DownloadError(f"{sums_location} lists {relative!r}, a path outside the project "
                                f"folder: the list is not a PhysioNet one, use another --mirror")
    root = folder / archive.root
    _remove_marker(folder)
    with tqdm(total=len(sums), unit="file", desc=f"{name}: files", disable=not progress) as bar:
        fetcher = _FileFetcher(source, archive, root, retries, bar)
        pool = ThreadPoolExecutor(FILE_WORKERS, thread_name_prefix="ecg-download")
        try:
            for future in as_completed([pool.submit(fetcher.fetch, relative, digest)
                                        for relative, digest in sums.items()]):
                future.result()
                with fetcher.lock:
                    bar.update(1)
        finally:
            # The first failure stops the run: files not started yet are left for the next one.
            pool.shutdown(cancel_futures=True)
            fetcher.close()
    if hasattr(os, "sync"):  # Unix only
        os.sync()
    _write_atomic(root / SUMS_NAME, listing)
    _write_marker(folder, {"dataset": name, "mode": "files", "files": len(sums),
                           "sums_sha256": hashlib.sha256(listing).hexdigest(),
                           "source": str(sums_location), "root": archive.root})
    return root


class _FileFetcher:
    """Fetches verified files of ``archive``'s project into ``root``, from several threads.

    Each thread keeps its own :class:`_Connection`; ``bar`` shows the bytes received.
    """

    def __init__(self, source, archive, root, retries, bar):
        self.source, self.archive, self.root, self.retries, self.bar = source, archive, root, retries, bar
        self.lock = threading.Lock()
        self.received = 0
        self.connections = []
        self.local = threading.local()

    def fetch(self, relative, digest):
        """Make sure ``root/relative`` is there with SHA-256 ``digest``; skip it if it already is."""
        target = self.root / relative
        if target.is_file() and sha256sum(target) == digest:
            return
        _makedirs(target.parent)
        connection = self._connection()
        try:
            # No fsync per file (thousands of them): _fetch_files syncs once before the marker.
            _transfer_verified(connection.open, self.source.file_location(self.archive, relative),
                               target, {digest}, self.retries, self._counter, sync=False,
                               on_drop=connection.close)
        except BaseException:
            connection.close()  # a response left half read would garble the next one
            raise

    def update(self, n):
        """Count ``n`` more bytes received (the ``bar`` protocol of :func:`_transfer`)."""
        with self.lock:
            self.received += n
            self.bar.set_postfix_str(f"{tqdm.format_sizeof(self.received, 'B', 1024)} received",
                                     refresh=False)

    def close(self):
        """Close the connections of every thread."""
        for connection in self.connections:
            connection.close()

    def _counter(self, offset, total):
        return nullcontext(self)

    def _connection(self):
        connection = getattr(self.local, "connection", None)
        if connection is None:
            connection = self.local.connection = _Connection(self.source.timeout)
            with self.lock:
                self.connections.append(connection)
        return connection


def _move_aside(path, target=None):
    """Rename a file that failed verification to ``<target>.corrupt``; return the new path."""
    target = target or path
    corrupt = target.with_name(target.name + ".corrupt")
    os.replace(path, corrupt)
    return corrupt


def _transfer(open_at, location, part, bar, sync=True):
    """Append ``location`` to ``part`` from the byte where ``part`` ends.

    ``open_at(url, offset)`` opens a URL from a byte; ``bar(offset, total)`` returns a
    context manager whose ``update(n)`` counts the bytes received; ``sync`` flushes the
    file to disk before returning. Raises ``_Interrupted`` when the connection drops
    (``part`` keeps what arrived).
    """
    offset = part.stat().st_size if part.exists() else 0
    if isinstance(location, Path):
        total = location.stat().st_size
        if offset > total:
            offset = 0
        _check_space(part.parent, total - offset, part)
        with open(location, "rb") as src:
            src.seek(offset)
            _copy(iter(lambda: src.read(CHUNK), b""), part, offset, bar(offset, total), sync)
        return
    try:
        response = open_at(location, offset)
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
        _copy(_read_chunks(response), part, offset, bar(offset, total), sync)
        received = part.stat().st_size
        if total is not None and received < total:
            raise _Interrupted(f"{received} of {total} bytes received")


def _bytes_bar(desc, progress):
    """A ``bar`` for :func:`_transfer`: one tqdm bar of bytes per transfer."""
    return lambda offset, total: tqdm(total=total, initial=offset, unit="B", unit_scale=True,
                                      unit_divisor=1024, desc=desc, disable=not progress)


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


def _copy(chunks, part, offset, bar, sync):
    """Write ``chunks`` to ``part`` (truncated to ``offset`` bytes first), counting them on
    the context manager ``bar``; ``sync``: flush to disk."""
    mode = "r+b" if offset and part.exists() else "wb"
    with bar as counter:
        try:
            with open(part, mode) as out:
                out.seek(offset)
                out.truncate()
                for block in chunks:
                    out.write(block)
                    counter.update(len(block))
                if sync:
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
    """Extract ``archive``'s top folder ``root`` into ``folder`` and write the marker; return it.

    The marker goes first and comes back last, and the old tree is renamed aside (not
    deleted) before the new one is renamed into place: a run killed at any point leaves
    either no marker (the next run extracts again) or a marker beside a whole tree. The
    temporary folders a killed run leaves are removed by the next one.
    """
    _remove_marker(folder)
    tmp, old = folder / f".extract-{os.getpid()}", folder / f".old-{os.getpid()}"
    final = folder / root
    try:
        with zipfile.ZipFile(archive) as zf:
            members = zf.infolist()
            _check_members(members, root, archive)
            _check_space(folder, sum(m.file_size for m in members), folder / root)
            for member in tqdm(members, desc=f"{name}: extracting", unit="file", disable=not progress):
                zf.extract(member, tmp)
        if final.exists():
            os.replace(final, old)
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
    _write_marker(folder, {"dataset": name, "mode": "archive", "archive": archive.name,
                           "sha256": digest, "source": str(location), "root": root})
    shutil.rmtree(old, ignore_errors=True)
    return final


def _write_marker(folder, marker):
    _write_atomic(folder / MARKER_NAME, json.dumps(marker, indent=2).encode("utf-8"))


def _write_atomic(path, data):
    tmp = path.with_name(path.name + ".tmp")
    try:
        tmp.write_bytes(data)
        os.replace(tmp, path)
    except OSError as exc:
        if exc.errno == errno.ENOSPC:
            raise _disk_full(path) from exc
        raise DownloadError(f"cannot write {path}: {exc}") from exc


def _check_members(members, root, archive):
    """Refuse archives whose members escape the top folder ``root`` (zip slip) or lack it."""
    for member in members:
        parts = PurePosixPath(member.filename).parts
        if member.filename.startswith("/") or ".." in parts or not parts or parts[0] != root:
            raise DownloadError(f"{archive}: member {member.filename!r} is outside the expected top "
                                f"folder {root!r}; the archive is not the expected one, use another --mirror")
