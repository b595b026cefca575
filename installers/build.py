"""Build Lantern's desktop bundle and this OS's installer: one command on every OS.

    python installers/build.py            # bundle + installer for this OS, into dist/
    python installers/build.py --smoke    # ... then run the frozen app's smoke test

Steps: a build virtual environment (build/bundle-venv), portable wheels of llama-cpp-python and
hnswlib (installers/portable.py, cached in ~/.cache/lantern-build), the app and PyInstaller,
PyInstaller with build.spec (one folder: dist/lantern/, plus dist/Lantern.app on macOS), then the
installer: Linux a .tar.gz and a .deb, macOS a .dmg (signed and notarised when configured), Windows
an Inno Setup setup .exe. See docs/packaging.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import subprocess
import sys
import time
import venv
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

import portable  # noqa: E402  (installers/ is a folder of scripts, not a package)
from smoke_test import bundle_size_mb  # noqa: E402

BUILD = ROOT / "build"
DIST = ROOT / "dist"
VENV = BUILD / "bundle-venv"


def log(message: str) -> None:
    print(message, flush=True)


def venv_python(root: Path = VENV) -> Path:
    return root / ("Scripts/python.exe" if sys.platform == "win32" else "bin/python")


def app_version() -> str:
    namespace: dict[str, str] = {}
    for line in (ROOT / "app" / "__init__.py").read_text().splitlines():
        if line.startswith("__version__"):
            exec(line, namespace)  # the one assignment line; importing app would need its dependencies
    return namespace["__version__"]


def run(cmd: list[str | Path], **kwargs: object) -> None:
    subprocess.run([str(c) for c in cmd], check=True, **kwargs)  # type: ignore[call-overload]


def prepare_venv() -> Path:
    python = venv_python()
    if not python.exists():
        log(f"== creating the build environment {VENV.relative_to(ROOT)}")
        venv.EnvBuilder(with_pip=True, clear=True).create(VENV)
    run([python, "-m", "pip", "install", "-q", "--upgrade", "pip"])
    log("== portable builds of llama-cpp-python and hnswlib (the first build compiles llama.cpp's CPU "
        "backends for every instruction-set level: about 10 min on 2 cores; then cached)")
    wheels = [portable.build_wheel(python, wheel, log=log) for wheel in portable.portable_wheels()]
    # --force-reinstall of just these two: an earlier install (or a native wheel) must not linger.
    run([python, "-m", "pip", "install", "-q", "--force-reinstall", "--no-deps", *wheels])
    log("== installing Lantern and PyInstaller into the build environment")
    run([python, "-m", "pip", "install", "-q", f"{ROOT}[build]"])
    check_portable_llama(python)
    return python


def check_portable_llama(python: Path) -> None:
    """Refuse to bundle a llama.cpp build without runtime CPU dispatch (it could SIGILL elsewhere)."""
    if sys.platform == "darwin":
        return
    script = ("import llama_cpp, pathlib; lib = pathlib.Path(llama_cpp.__file__).parent / 'lib'; "
              "print(' '.join(p.name for p in lib.iterdir()))")
    out = subprocess.run([str(python), "-c", script], check=True, capture_output=True, text=True,
                         cwd=BUILD).stdout.split()
    variants = [name for name in out if "ggml-cpu-" in name]
    if not variants:
        raise SystemExit("llama-cpp-python in the build environment has no per-CPU backends; "
                         "delete build/bundle-venv and run again.")
    log(f"   llama.cpp CPU backends: {len(variants)} ({', '.join(sorted(variants))})")


def run_pyinstaller(python: Path) -> Path:
    log("== PyInstaller (build.spec)")
    started = time.monotonic()
    run([python, "-m", "PyInstaller", "--noconfirm", "--clean", "--log-level", "WARN",
         "--distpath", DIST, "--workpath", BUILD / "pyinstaller", ROOT / "build.spec"], cwd=ROOT)
    bundle = DIST / "lantern"
    log(f"   built {bundle.relative_to(ROOT)} in {time.monotonic() - started:.0f} s, "
        f"{bundle_size_mb(bundle):.0f} MB")
    return bundle


def package(bundle: Path, version: str) -> list[Path]:
    if sys.platform.startswith("linux"):
        from linux.package import package as package_linux

        return package_linux(bundle, version, DIST, log=log)
    if sys.platform == "darwin":
        from macos.package import package as package_macos

        return [package_macos(DIST / "Lantern.app", version, DIST, log=log)]
    if sys.platform == "win32":
        from windows.package import package as package_windows

        return [package_windows(bundle, version, DIST, log=log)]
    raise SystemExit(f"no installer for {sys.platform}")


def smoke(python: Path, bundle: Path) -> None:
    log("== smoke test of the frozen app")
    # The smoke test builds its fixture models with the test helpers, which need gguf; installed
    # only now, after PyInstaller, so it can never end up in the bundle.
    run([python, "-m", "pip", "install", "-q", "gguf>=0.17", "filelock"])
    if sys.platform == "win32":
        executable = bundle / "lantern-cli.exe"  # the console twin of Lantern.exe
    elif sys.platform == "darwin":
        executable = DIST / "Lantern.app" / "Contents" / "MacOS" / "lantern"  # what the .dmg ships
    else:
        executable = bundle / "lantern"
    run([python, HERE / "smoke_test.py", executable], cwd=ROOT)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--smoke", action="store_true", help="run the frozen app's smoke test afterwards")
    parser.add_argument("--no-installer", action="store_true", help="stop after the PyInstaller bundle")
    args = parser.parse_args(argv)
    log(f"Lantern {app_version()} on {platform.system()} {platform.machine()}, Python {platform.python_version()}")
    BUILD.mkdir(exist_ok=True)
    python = prepare_venv()
    shutil.rmtree(DIST, ignore_errors=True)
    bundle = run_pyinstaller(python)
    if not args.no_installer:
        for artifact in package(bundle, app_version()):
            log(f"   {artifact.relative_to(ROOT)}: {artifact.stat().st_size / 1e6:.0f} MB")
    if args.smoke:
        smoke(python, bundle)
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUTF8", "1")
    sys.exit(main())
