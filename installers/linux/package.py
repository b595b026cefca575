"""Linux installers from the PyInstaller folder: a .tar.gz (unpack anywhere, `./install.sh` adds the
menu entry) and a .deb (installs to /opt/lantern with /usr/bin/lantern and a menu entry).

AppImage is not built: appimagetool is fetched from GitHub, which this project's build machines
cannot reach; the .tar.gz is the distribution-neutral package instead.
"""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
import tarfile
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
ICON = ROOT / "resources" / "icons" / "lantern.png"
DESCRIPTION = """An offline-first desktop AI tutor
 Lantern answers questions about your course material with a language model
 that runs on this computer, finds the passages it draws on with on-device
 search, and reaches a cloud model only when you allow it."""


def package(bundle: Path, version: str, out_dir: Path, log: Callable[[str], None] = print) -> list[Path]:
    artifacts = [make_tarball(bundle, version, out_dir)]
    if shutil.which("dpkg-deb"):
        artifacts.append(make_deb(bundle, version, out_dir))
    else:
        log("   no dpkg-deb here: skipping the .deb (apt-get install dpkg-dev)")
    return artifacts


def make_tarball(bundle: Path, version: str, out_dir: Path) -> Path:
    top = f"lantern-{version}-linux-{platform.machine()}"
    out = out_dir / f"{top}.tar.gz"
    with tarfile.open(out, "w:gz", compresslevel=6) as tar:
        tar.add(bundle, arcname=top)  # symlinks stay symlinks (tarfile does not follow them)
        tar.add(HERE / "install.sh", arcname=f"{top}/install.sh")
        tar.add(HERE / "lantern.desktop", arcname=f"{top}/share/applications/lantern.desktop")
        tar.add(ICON, arcname=f"{top}/share/icons/lantern.png")
    return out


def glibc_version() -> str:
    """The build machine's glibc: the bundle's binaries need at least this one (the bundle carries
    every other library it links, except the system's OpenGL/EGL drivers)."""
    lib, found = platform.libc_ver()
    if lib != "glibc" or not found:
        raise SystemExit("cannot tell this machine's glibc version for the .deb's dependency")
    return found


def deb_arch() -> str:
    return subprocess.run(["dpkg", "--print-architecture"], capture_output=True, text=True, check=True).stdout.strip()


def control(version: str, installed_kib: int) -> str:
    return (f"Package: lantern\nVersion: {version}\nArchitecture: {deb_arch()}\n"
            "Maintainer: Lantern developers <dev@lantern.invalid>\n"
            f"Installed-Size: {installed_kib}\n"
            f"Depends: libc6 (>= {glibc_version()}), libgl1, libegl1\n"
            "Section: education\nPriority: optional\n"
            f"Description: {DESCRIPTION}\n")


def make_deb(bundle: Path, version: str, out_dir: Path) -> Path:
    stage = ROOT / "build" / "deb" / "lantern"
    shutil.rmtree(stage, ignore_errors=True)
    shutil.copytree(bundle, stage / "opt" / "lantern", symlinks=True)
    (stage / "usr" / "bin").mkdir(parents=True)
    os.symlink("/opt/lantern/lantern", stage / "usr" / "bin" / "lantern")
    apps = stage / "usr" / "share" / "applications"
    icons = stage / "usr" / "share" / "icons" / "hicolor" / "512x512" / "apps"
    apps.mkdir(parents=True)
    icons.mkdir(parents=True)
    shutil.copy2(HERE / "lantern.desktop", apps / "lantern.desktop")
    shutil.copy2(ICON, icons / "lantern.png")
    size = sum(p.stat().st_size for p in stage.rglob("*") if p.is_file() and not p.is_symlink())
    (stage / "DEBIAN").mkdir()
    (stage / "DEBIAN" / "control").write_text(control(version, size // 1024 + 1))
    for path in stage.rglob("*"):  # dpkg wants 0755 directories whatever the umask was
        if path.is_dir() and not path.is_symlink():
            path.chmod(0o755)
    out = out_dir / f"lantern_{version}_{deb_arch()}.deb"
    # gzip: every dpkg reads it (xz takes minutes on 280 MB and gains little on compiled code).
    subprocess.run(["dpkg-deb", "--root-owner-group", "-Zgzip", "--build", str(stage), str(out)], check=True,
                   stdout=subprocess.DEVNULL)
    shutil.rmtree(stage)
    return out
