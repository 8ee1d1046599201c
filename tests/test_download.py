"""ecg.data.download and ``ecg download``: against a real HTTP server on loopback.

The server (``http.server`` in a thread, 127.0.0.1, an ephemeral port, HTTP/1.1 keep-alive)
serves either a small mirror built in ``tmp_path`` from fixture files, a folder laid out
like PhysioNet's ``files/`` tree (per-file mode), or ``../shared/data/mirror``. It answers
``Range`` requests, and can drop a connection halfway or answer an HTTP error.
"""
import hashlib
import json
import shutil
import socket
import threading
import zipfile
from collections import namedtuple
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

from ecg.cli import main
from ecg.data.download import FILE_WORKERS, MARKER_NAME, available, download, parse_sums, sha256sum
from ecg.errors import DownloadError

QT_PATH = "qtdb/1.0.0/qt-database-1.0.0.zip"
QT_PROJECT = "qtdb/1.0.0"
QT_ROOT = "qt-database-1.0.0"
LUDB_PATH = "ludb/1.0.1/lobachevsky-university-electrocardiography-database-1.0.1.zip"
SERVER_LIFETIME_S = 120


class _Handler(BaseHTTPRequestHandler):
    """GET/HEAD of files under ``server.root``, with ``Range`` and injected faults."""

    protocol_version = "HTTP/1.1"

    def do_HEAD(self):  # noqa: N802 (http.server's naming)
        self._serve(body=False)

    def do_GET(self):  # noqa: N802
        self._serve(body=True)

    def log_message(self, *args):
        pass

    def _serve(self, body):
        server = self.server
        path = unquote(urlsplit(self.path).path)
        server.requests.append((self.command, path, self.headers.get("Range")))
        server.peers.add(self.client_address)
        if path in server.errors:
            self.send_error(server.errors[path])
            return
        file = (server.root / path.lstrip("/")).resolve()
        if server.root not in file.parents or not file.is_file():
            self.send_error(404)
            return
        data = file.read_bytes()
        start = 0
        requested = self.headers.get("Range")
        if requested and server.ranges:
            start = int(requested.split("=")[1].split("-")[0])
            if start >= len(data):
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(data)}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        else:
            self.send_response(200)
        self.send_header("Content-Length", str(len(data) - start))
        self.send_header("Accept-Ranges", "bytes")
        self.end_headers()
        if not body:
            return
        drop = server.drops.pop(path, None)
        if drop is None:
            self.wfile.write(data[start:])
            return
        # Announce the whole length, send part of it, then cut the connection.
        self.wfile.write(data[start:start + drop])
        self.wfile.flush()
        self.close_connection = True
        self.connection.shutdown(socket.SHUT_RDWR)


class MirrorServer:
    """A loopback HTTP server of the folder ``root``; stops itself after a bounded time."""

    def __init__(self, root):
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.httpd.daemon_threads = True
        self.httpd.root = Path(root).resolve()
        self.httpd.requests, self.httpd.errors, self.httpd.drops = [], {}, {}
        self.httpd.peers = set()
        self.httpd.ranges = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                       daemon=True)
        self.timer = threading.Timer(SERVER_LIFETIME_S, self.httpd.shutdown)
        self.timer.daemon = True

    def __enter__(self):
        self.thread.start()
        self.timer.start()
        return self

    def __exit__(self, *exc):
        self.timer.cancel()
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)

    @property
    def requests(self):
        return self.httpd.requests

    def gets(self, path):
        """The ``Range`` headers of the GET requests of ``path`` (None when absent)."""
        return [rng for method, p, rng in self.requests if method == "GET" and p == f"/{path}"]


def write_sums(mirror):
    """Write ``mirror/SHA256SUMS.txt`` for every zip under ``mirror``, like the shared mirror's."""
    lines = [f"{sha256sum(p)}  ./{p.relative_to(mirror).as_posix()}" for p in sorted(mirror.rglob("*.zip"))]
    (mirror / "SHA256SUMS.txt").write_text("\n".join(lines) + "\n")


def build_zip(path, root, files):
    """Zip ``files`` (a list of paths) under the top folder ``root`` at ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for file in files:
            zf.write(file, f"{root}/{file.name}")
    return path


@pytest.fixture
def qt_mirror(tmp_path, fixture_dir):
    """A mirror in tmp_path holding a QT Database zip made of the fixture's sel100."""
    mirror = tmp_path / "mirror"
    build_zip(mirror / QT_PATH, "qt-database-1.0.0", sorted((fixture_dir / "qtdb").glob("sel100.*")))
    write_sums(mirror)
    return mirror


@pytest.fixture
def server(qt_mirror):
    with MirrorServer(qt_mirror) as srv:
        yield srv


def test_available_lists_the_five_databases():
    assert available() == ["cinc2017", "ludb", "mitdb", "ptbxl", "qtdb"]


def test_parse_sums_accepts_both_layouts():
    text = f"{'ab' * 32}  ./mitdb/1.0.0/x.zip\n{'CD' * 32} *RECORDS\n\nbad line\n"
    assert parse_sums(text) == {"mitdb/1.0.0/x.zip": "ab" * 32, "RECORDS": "cd" * 32}


def test_download_from_http_mirror_verifies_and_extracts(server, qt_mirror, fixture_dir, tmp_path):
    root = download("qtdb", dest=tmp_path / "dl", mirror=server.url, progress=False)
    assert root == tmp_path / "dl" / "qtdb" / "qt-database-1.0.0"
    assert sorted(p.name for p in root.iterdir()) == sorted(
        p.name for p in (fixture_dir / "qtdb").glob("sel100.*"))
    marker = json.loads((root.parent / MARKER_NAME).read_text())
    assert marker["sha256"] == sha256sum(qt_mirror / QT_PATH)
    assert marker["source"] == f"{server.url}/{QT_PATH}"
    assert not list(root.parent.glob("*.part")) and not list(root.parent.glob(".extract-*"))


def test_extracted_files_are_the_originals(server, fixture_dir, tmp_path):
    root = download("qtdb", dest=tmp_path, mirror=server.url, progress=False)
    for original in (fixture_dir / "qtdb").glob("sel100.*"):
        assert (root / original.name).read_bytes() == original.read_bytes()


def test_second_download_is_skipped_without_network(server, tmp_path):
    first = download("qtdb", dest=tmp_path, mirror=server.url, progress=False)
    n_requests = len(server.requests)
    again = download("qtdb", dest=tmp_path, mirror="http://127.0.0.1:9/unreachable", progress=False)
    assert again == first and len(server.requests) == n_requests


def test_valid_archive_is_not_transferred_again(server, tmp_path):
    root = download("qtdb", dest=tmp_path, mirror=server.url, progress=False)
    (root.parent / MARKER_NAME).unlink()
    download("qtdb", dest=tmp_path, mirror=server.url, progress=False)
    assert len(server.gets(QT_PATH)) == 1
    assert (root / "sel100.hea").is_file()


def test_corrupted_file_is_moved_aside_and_not_used(server, qt_mirror, tmp_path):
    archive = qt_mirror / QT_PATH
    data = bytearray(archive.read_bytes())
    data[len(data) // 2] ^= 0xFF
    archive.write_bytes(bytes(data))
    with pytest.raises(DownloadError, match="SHA-256 mismatch") as info:
        download("qtdb", dest=tmp_path, mirror=server.url, progress=False)
    folder = tmp_path / "qtdb"
    assert str(folder / "qt-database-1.0.0.zip.corrupt") in str(info.value)
    assert (folder / "qt-database-1.0.0.zip.corrupt").is_file()
    assert not (folder / "qt-database-1.0.0.zip").exists()
    assert not (folder / "qt-database-1.0.0").exists() and not (folder / MARKER_NAME).exists()


def test_dropped_connection_then_resumed_with_range(server, qt_mirror, tmp_path):
    size = (qt_mirror / QT_PATH).stat().st_size
    half = size // 2
    server.httpd.drops[f"/{QT_PATH}"] = half
    with pytest.raises(DownloadError, match="interrupted.*run the same command again"):
        download("qtdb", dest=tmp_path, mirror=server.url, progress=False, retries=0)
    part = tmp_path / "qtdb" / "qt-database-1.0.0.zip.part"
    assert part.stat().st_size == half
    root = download("qtdb", dest=tmp_path, mirror=server.url, progress=False)
    assert server.gets(QT_PATH) == [None, f"bytes={half}-"]
    assert sha256sum(root.parent / "qt-database-1.0.0.zip") == sha256sum(qt_mirror / QT_PATH)
    assert not part.exists()


def test_dropped_connection_is_retried_within_one_call(server, qt_mirror, tmp_path):
    half = (qt_mirror / QT_PATH).stat().st_size // 2
    server.httpd.drops[f"/{QT_PATH}"] = half
    root = download("qtdb", dest=tmp_path, mirror=server.url, progress=False, retries=1)
    assert server.gets(QT_PATH) == [None, f"bytes={half}-"]
    assert (root / "sel100.dat").is_file()


def test_server_ignoring_range_restarts_from_zero(server, qt_mirror, tmp_path):
    server.httpd.ranges = False
    part = tmp_path / "qtdb" / "qt-database-1.0.0.zip.part"
    part.parent.mkdir(parents=True)
    part.write_bytes(b"stale bytes from another transfer")
    root = download("qtdb", dest=tmp_path, mirror=server.url, progress=False)
    assert sha256sum(root.parent / "qt-database-1.0.0.zip") == sha256sum(qt_mirror / QT_PATH)


def test_http_error_names_status_and_url(server, tmp_path):
    server.httpd.errors[f"/{QT_PATH}"] = 500
    with pytest.raises(DownloadError, match=rf"HTTP 500 .*{server.url}/{QT_PATH}"):
        download("qtdb", dest=tmp_path, mirror=server.url, progress=False)


def test_missing_archive_names_the_url_tried(server, tmp_path):
    with pytest.raises(DownloadError, match=rf"no archive found at {server.url}/ludb/1.0.1/"):
        download("ludb", dest=tmp_path, mirror=server.url, progress=False)


def test_local_mirror_without_the_archive_lists_the_paths_tried(qt_mirror, tmp_path):
    with pytest.raises(DownloadError, match=r"no archive found at .*ptb-xl/1.0.3/.*ptb-xl-subset-500.zip"):
        download("ptbxl", dest=tmp_path / "dl", mirror=qt_mirror, progress=False)


def test_no_network_suggests_a_mirror(tmp_path):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(DownloadError, match="cannot reach .*--mirror"):
        download("qtdb", dest=tmp_path, mirror=f"http://127.0.0.1:{port}", progress=False, timeout=5)


def test_disk_full_says_what_to_do(server, tmp_path, monkeypatch):
    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr("ecg.data.download.shutil.disk_usage", lambda path: usage(100, 100, 0))
    with pytest.raises(DownloadError, match="disk full .*--dest"):
        download("qtdb", dest=tmp_path, mirror=server.url, progress=False)


def test_unknown_hash_is_refused_unless_verify_false(server, qt_mirror, tmp_path):
    (qt_mirror / "SHA256SUMS.txt").unlink()
    with pytest.raises(DownloadError, match="no known SHA-256 .*--no-verify"):
        download("qtdb", dest=tmp_path, mirror=server.url, progress=False)
    root = download("qtdb", dest=tmp_path, mirror=server.url, progress=False, verify=False)
    assert json.loads((root.parent / MARKER_NAME).read_text())["sha256"] == sha256sum(qt_mirror / QT_PATH)


def test_archive_escaping_its_folder_is_refused(tmp_path):
    mirror = tmp_path / "mirror"
    (mirror / QT_PATH).parent.mkdir(parents=True)
    with zipfile.ZipFile(mirror / QT_PATH, "w") as zf:
        zf.writestr("qt-database-1.0.0/../../evil.txt", "x")
    write_sums(mirror)
    with pytest.raises(DownloadError, match="outside the expected top folder"):
        download("qtdb", dest=tmp_path / "dl", mirror=mirror, progress=False)
    assert not (tmp_path / "evil.txt").exists()


def test_unknown_dataset_lists_the_known_ones(tmp_path):
    with pytest.raises(DownloadError, match="unknown dataset 'nope': choose one of cinc2017"):
        download("nope", dest=tmp_path)


def test_environment_sets_mirror_and_dest(server, tmp_path, monkeypatch):
    monkeypatch.setenv("ECG_MIRROR", server.url)
    monkeypatch.setenv("ECG_DATA_DIR", str(tmp_path / "env"))
    assert download("qtdb", progress=False) == tmp_path / "env" / "qtdb" / "qt-database-1.0.0"


def test_cli_download_prints_the_root(server, tmp_path, capsys):
    assert main(["download", "qtdb", "--dest", str(tmp_path), "--mirror", server.url, "-q"]) == 0
    assert capsys.readouterr().out.strip() == str(tmp_path / "qtdb" / "qt-database-1.0.0")


def test_cli_failure_exits_2_with_the_reason(server, tmp_path, capsys):
    server.httpd.errors[f"/{QT_PATH}"] = 503
    assert main(["download", "qtdb", "--dest", str(tmp_path), "--mirror", server.url, "-q"]) == 2
    assert "HTTP 503" in capsys.readouterr().err


def test_real_ludb_zip_through_http_and_local_mirror(mirror_dir, tmp_path):
    """The 14 MB LUDB zip of the shared mirror, through the loopback server and from the folder."""
    expected = parse_sums((mirror_dir / "SHA256SUMS.txt").read_text())[LUDB_PATH]
    with MirrorServer(mirror_dir) as srv:
        over_http = download("ludb", dest=tmp_path / "http", mirror=srv.url, progress=False)
    from_folder = download("ludb", dest=tmp_path / "local", mirror=mirror_dir, progress=False)
    for root in (over_http, from_folder):
        marker = json.loads((root.parent / MARKER_NAME).read_text())
        assert marker["sha256"] == expected
        assert len(list((root / "data").glob("*.hea"))) == 200
        assert hashlib.sha256((root / "ludb.csv").read_bytes()).hexdigest() == hashlib.sha256(
            (from_folder / "ludb.csv").read_bytes()).hexdigest()


# Per-file mode: a folder laid out like https://physionet.org/files/, with no zip.

def build_project(project, fixture_dir):
    """Copy the fixture's sel100 files into ``project`` (one also in a subfolder, like
    mitdb's ``x_mitdb/``) and write its ``SHA256SUMS.txt``; return the relative paths."""
    (project / "x_qtdb").mkdir(parents=True)
    for file in sorted((fixture_dir / "qtdb").glob("sel100.*")):
        shutil.copyfile(file, project / file.name)
    shutil.copyfile(fixture_dir / "qtdb" / "sel100.hea", project / "x_qtdb" / "sel100.hea")
    files = sorted(p.relative_to(project).as_posix() for p in project.rglob("sel100.*"))
    (project / "SHA256SUMS.txt").write_text("".join(f"{sha256sum(project / f)} {f}\n" for f in files))
    return files


@pytest.fixture
def qt_files(tmp_path, fixture_dir):
    """``tmp_path/files``, laid out like PhysioNet's files/ tree: ``qtdb/1.0.0/`` and its list."""
    build_project(tmp_path / "files" / QT_PROJECT, fixture_dir)
    return tmp_path / "files"


@pytest.fixture
def files_server(qt_files):
    with MirrorServer(qt_files) as srv:
        yield srv


def assert_same_tree(root, project):
    """``root`` holds every file that ``project``'s list names and the list, byte for byte,
    and nothing else."""
    expected = sorted([*parse_sums((project / "SHA256SUMS.txt").read_text()), "SHA256SUMS.txt"])
    assert sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()) == expected
    for relative in expected:
        assert (root / relative).read_bytes() == (project / relative).read_bytes()


def test_files_mode_when_the_source_has_no_archive(files_server, qt_files, tmp_path):
    root = download("qtdb", dest=tmp_path / "dl", mirror=files_server.url, progress=False)
    project = qt_files / QT_PROJECT
    assert root == tmp_path / "dl" / "qtdb" / QT_ROOT
    assert_same_tree(root, project)
    marker = json.loads((root.parent / MARKER_NAME).read_text())
    assert marker["mode"] == "files" and marker["root"] == QT_ROOT and marker["files"] == 12
    assert marker["sums_sha256"] == sha256sum(project / "SHA256SUMS.txt")
    assert marker["source"] == f"{files_server.url}/{QT_PROJECT}/SHA256SUMS.txt"
    assert ("HEAD", f"/{QT_PATH}", None) in files_server.requests  # the archive was looked for first
    assert len(files_server.gets(f"{QT_PROJECT}/x_qtdb/sel100.hea")) == 1
    # Kept-alive connections: at most one per worker, plus the HEAD and the list's GET.
    assert len(files_server.httpd.peers) <= FILE_WORKERS + 2


def test_files_mode_from_a_local_folder(qt_files, tmp_path):
    root = download("qtdb", dest=tmp_path / "dl", mirror=qt_files, progress=True)
    assert_same_tree(root, qt_files / QT_PROJECT)
    assert json.loads((root.parent / MARKER_NAME).read_text())["mode"] == "files"


def test_files_mode_corrupted_file_is_moved_aside(files_server, qt_files, tmp_path):
    served = qt_files / QT_PROJECT / "sel100.dat"
    data = bytearray(served.read_bytes())
    data[len(data) // 2] ^= 0xFF
    served.write_bytes(bytes(data))
    url = f"{files_server.url}/{QT_PROJECT}/sel100.dat"
    with pytest.raises(DownloadError, match=rf"SHA-256 mismatch for {url}"):
        download("qtdb", dest=tmp_path, mirror=files_server.url, progress=False)
    root = tmp_path / "qtdb" / QT_ROOT
    assert (root / "sel100.dat.corrupt").read_bytes() == bytes(data)
    assert not (root / "sel100.dat").exists() and not (root / "sel100.dat.part").exists()
    assert not (tmp_path / "qtdb" / MARKER_NAME).exists()


def test_files_mode_dropped_connection_resumes_with_range_on_next_call(files_server, qt_files, tmp_path):
    path = f"{QT_PROJECT}/sel100.dat"
    half = (qt_files / path).stat().st_size // 2
    files_server.httpd.drops[f"/{path}"] = half
    with pytest.raises(DownloadError, match="interrupted.*run the same command again"):
        download("qtdb", dest=tmp_path, mirror=files_server.url, progress=False, retries=0)
    root = tmp_path / "qtdb" / QT_ROOT
    assert (root / "sel100.dat.part").stat().st_size == half
    assert not (tmp_path / "qtdb" / MARKER_NAME).exists()
    download("qtdb", dest=tmp_path, mirror=files_server.url, progress=False)
    assert files_server.gets(path) == [None, f"bytes={half}-"]
    assert_same_tree(root, qt_files / QT_PROJECT)


def test_files_mode_second_call_transfers_nothing(files_server, tmp_path):
    first = download("qtdb", dest=tmp_path, mirror=files_server.url, progress=False)
    n_requests = len(files_server.requests)
    assert download("qtdb", dest=tmp_path, mirror="http://127.0.0.1:9/unreachable", progress=False) == first
    assert len(files_server.requests) == n_requests
    # Without the marker, only the list is read again: the files on disk are verified, not fetched.
    (first.parent / MARKER_NAME).unlink()
    download("qtdb", dest=tmp_path, mirror=files_server.url, progress=False)
    assert files_server.requests[n_requests:] == [("HEAD", f"/{QT_PATH}", None),
                                                  ("GET", f"/{QT_PROJECT}/SHA256SUMS.txt", None)]


def test_files_mode_missing_file_names_status_and_url(files_server, qt_files, tmp_path):
    (qt_files / QT_PROJECT / "sel100.pu0").unlink()
    with pytest.raises(DownloadError, match=rf"HTTP 404 .*{files_server.url}/{QT_PROJECT}/sel100.pu0"):
        download("qtdb", dest=tmp_path, mirror=files_server.url, progress=False)


def test_files_mode_refuses_a_path_outside_the_project(qt_files, tmp_path):
    (qt_files / QT_PROJECT / "SHA256SUMS.txt").write_text(f"{'ab' * 32} ../../evil.txt\n")
    with pytest.raises(DownloadError, match="outside the project folder"):
        download("qtdb", dest=tmp_path / "dl", mirror=qt_files, progress=False)
    assert not list(tmp_path.rglob("evil.txt*"))


@pytest.fixture
def both_server(qt_mirror, fixture_dir):
    """A mirror holding the QT zip (hash in its root SHA256SUMS.txt) and the project's files."""
    build_project(qt_mirror / QT_PROJECT, fixture_dir)
    with MirrorServer(qt_mirror) as srv:
        yield srv


def test_known_archive_hash_is_preferred_to_files(both_server, tmp_path):
    root = download("qtdb", dest=tmp_path, mirror=both_server.url, progress=False)
    assert json.loads((root.parent / MARKER_NAME).read_text())["mode"] == "archive"
    assert len(both_server.gets(QT_PATH)) == 1 and not both_server.gets(f"{QT_PROJECT}/sel100.dat")


def test_unknown_archive_hash_falls_back_to_files_unless_no_verify(both_server, qt_mirror, tmp_path):
    (qt_mirror / "SHA256SUMS.txt").unlink()
    root = download("qtdb", dest=tmp_path / "a", mirror=both_server.url, progress=False)
    assert json.loads((root.parent / MARKER_NAME).read_text())["mode"] == "files"
    assert not both_server.gets(QT_PATH)
    root = download("qtdb", dest=tmp_path / "b", mirror=both_server.url, progress=False, verify=False)
    assert json.loads((root.parent / MARKER_NAME).read_text())["mode"] == "archive"


def test_cli_files_flag_skips_the_archive(both_server, qt_mirror, tmp_path, capsys):
    args = ["download", "qtdb", "--dest", str(tmp_path), "--mirror", both_server.url, "--files", "-q"]
    assert main(args) == 0
    root = tmp_path / "qtdb" / QT_ROOT
    assert capsys.readouterr().out.strip() == str(root)
    assert not both_server.gets(QT_PATH)
    assert json.loads((root.parent / MARKER_NAME).read_text())["mode"] == "files"
    assert_same_tree(root, qt_mirror / QT_PROJECT)


def test_files_without_a_list_says_where_it_looked(server, tmp_path):
    listing = f"{server.url}/{QT_PROJECT}/SHA256SUMS.txt"
    with pytest.raises(DownloadError, match=rf"no per-file list found at {listing}"):
        download("qtdb", dest=tmp_path, mirror=server.url, progress=False, files=True)
    with pytest.raises(DownloadError, match="none of its archives can be fetched file by file"):
        download("cinc2017", dest=tmp_path, mirror=server.url, progress=False, files=True)
