"""The Linux installers (installers/linux/package.py) built from a small stand-in bundle, and the
tarball's install.sh run for real into a temporary home."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "installers"))

from linux.package import make_deb, make_tarball  # noqa: E402

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux installers")


@pytest.fixture
def bundle(tmp_path):
    """What PyInstaller leaves in dist/lantern: the executable, _internal/ and a relative symlink."""
    root = tmp_path / "dist" / "lantern"
    lib = root / "_internal" / "llama_cpp" / "lib"
    lib.mkdir(parents=True)
    (lib / "libggml.so.0").write_bytes(b"\x7fELF stand-in")
    os.symlink("libggml.so.0", lib / "libggml.so")
    exe = root / "lantern"
    exe.write_text("#!/bin/sh\necho \"lantern 0.0.1 $*\"\n")
    exe.chmod(0o755)
    return root


def test_tarball_keeps_symlinks_and_carries_the_menu_entry(bundle, tmp_path):
    out = make_tarball(bundle, "0.0.1", tmp_path)
    with tarfile.open(out) as tar:
        members = {m.name: m for m in tar.getmembers()}
    top = out.name.removesuffix(".tar.gz")
    link = members[f"{top}/_internal/llama_cpp/lib/libggml.so"]
    assert link.issym() and link.linkname == "libggml.so.0"
    assert members[f"{top}/lantern"].mode & 0o111
    assert members[f"{top}/install.sh"].mode & 0o111
    assert f"{top}/share/applications/lantern.desktop" in members and f"{top}/share/icons/lantern.png" in members


def test_install_sh_adds_and_removes_the_command_and_menu_entry(bundle, tmp_path):
    out = make_tarball(bundle, "0.0.1", tmp_path)
    unpacked = tmp_path / "opt"
    with tarfile.open(out) as tar:
        tar.extractall(unpacked, filter="tar")
    folder = unpacked / out.name.removesuffix(".tar.gz")
    home = tmp_path / "home"
    env = {"HOME": str(home), "PATH": os.environ["PATH"]}
    subprocess.run(["sh", str(folder / "install.sh")], env=env, check=True, capture_output=True)
    command = home / ".local" / "bin" / "lantern"
    assert subprocess.run([str(command), "--version"], capture_output=True, text=True).stdout.startswith("lantern")
    desktop = (home / ".local" / "share" / "applications" / "lantern.desktop").read_text()
    assert f'Exec="{folder}/lantern" %F' in desktop and "Icon=lantern" in desktop
    assert (home / ".local" / "share" / "icons" / "hicolor" / "512x512" / "apps" / "lantern.png").is_file()

    subprocess.run(["sh", str(folder / "install.sh"), "--uninstall"], env=env, check=True, capture_output=True)
    assert not command.exists() and not (home / ".local" / "share" / "applications" / "lantern.desktop").exists()


@pytest.mark.skipif(shutil.which("dpkg-deb") is None, reason="needs dpkg-deb")
def test_deb_installs_under_opt_with_a_command_and_menu_entry(bundle, tmp_path):
    deb = make_deb(bundle, "0.0.1", tmp_path)
    info = subprocess.run(["dpkg-deb", "--field", str(deb)], capture_output=True, text=True, check=True).stdout
    assert "Package: lantern" in info and "Version: 0.0.1" in info and "Depends: libc6 (>= 2." in info
    listing = subprocess.run(["dpkg-deb", "--contents", str(deb)], capture_output=True, text=True, check=True).stdout
    assert "./usr/bin/lantern -> /opt/lantern/lantern" in listing
    assert "./opt/lantern/_internal/llama_cpp/lib/libggml.so -> libggml.so.0" in listing
    assert "./usr/share/applications/lantern.desktop" in listing
    assert "root/root" in listing  # --root-owner-group: no build-user ids leak into the package
