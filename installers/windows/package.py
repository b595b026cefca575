"""Windows installer: the PyInstaller folder (dist/lantern) into an Inno Setup 6 setup .exe.

    python installers/windows/package.py dist/lantern 0.1.0 dist    # normally run by build.py

Code signing is optional and driven by the environment:

- LANTERN_WINDOWS_CERT_FILE: a .pfx code-signing certificate; when set, Lantern.exe and
  lantern-cli.exe are signed before compiling, and Inno Setup signs the setup .exe and its
  uninstaller while compiling (through its Sign Tool mechanism, which also covers Setup's own
  temporary copies; signing the finished .exe afterwards would not).
- LANTERN_WINDOWS_CERT_PASSWORD: the .pfx password (omit for a .pfx without one).
- LANTERN_WINDOWS_TIMESTAMP_URL: an RFC 3161 timestamp server (default DigiCert's), so the
  signatures stay valid after the certificate expires.
- LANTERN_SIGNTOOL: signtool.exe, when it is neither on PATH nor in the Windows SDK's default place.
- LANTERN_ISCC: ISCC.exe, when Inno Setup 6 is not on PATH nor in its default place.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
ISS = Path(__file__).resolve().parent / "lantern.iss"
EXECUTABLES = ("Lantern.exe", "lantern-cli.exe")
DEFAULT_TIMESTAMP_URL = "http://timestamp.digicert.com"
SIGN_TOOL_NAME = "lantern"  # must match SignTool= in lantern.iss

Log = Callable[[str], object]


def package(dist_dir: Path, version: str, out_dir: Path, log: Log = print) -> Path:
    """Build out_dir/Lantern-<version>-windows-x64-setup.exe from the one-folder bundle dist_dir."""
    dist_dir = dist_dir.resolve()
    out_dir = out_dir.resolve()
    missing = [name for name in EXECUTABLES if not (dist_dir / name).is_file()]
    if missing:
        raise SystemExit(f"{dist_dir} is not a Windows Lantern bundle: missing {', '.join(missing)}")
    out_dir.mkdir(parents=True, exist_ok=True)
    setup_exe = out_dir / f"Lantern-{version}-windows-x64-setup.exe"
    iscc = find_iscc()
    signing = SigningConfig.from_env()

    defines = {
        "AppVersion": version,
        "AppNumericVersion": numeric_version(version),
        "SourceDir": str(dist_dir),
        "OutputDir": str(out_dir),
        "RepoRoot": str(REPO_ROOT),
    }
    cmd = [str(iscc), "/Qp", *(f"/D{name}={value}" for name, value in defines.items())]
    secrets: list[str] = []
    if signing is None:
        log("== Windows installer: unsigned (set LANTERN_WINDOWS_CERT_FILE to sign)")
    else:
        log(f"== signing {', '.join(EXECUTABLES)} with {signing.cert_file.name}")
        signing.sign([dist_dir / name for name in EXECUTABLES], log=log)
        # Inno Setup keeps the signed uninstaller between compiles; in build/, not next to the setup .exe.
        uninstaller_dir = REPO_ROOT / "build" / "inno-signed-uninstaller"
        uninstaller_dir.mkdir(parents=True, exist_ok=True)
        cmd += ["/DSignSetup=1", f"/DSignedUninstallerDir={uninstaller_dir}",
                f"/S{SIGN_TOOL_NAME}={signing.inno_sign_tool_command()}"]
        # The Sign Tool command carries the password with $ doubled: mask both spellings.
        secrets = [signing.password, signing.password.replace("$", "$$")] if signing.password else []
    cmd.append(str(ISS))

    setup_exe.unlink(missing_ok=True)  # a stale file must not pass for this build's output
    log(f"== Inno Setup: {setup_exe.name}")
    log("   " + " ".join(redact(cmd, secrets)))
    run(cmd, secrets)
    if not setup_exe.is_file():
        raise SystemExit(f"ISCC finished but {setup_exe} is missing; check OutputBaseFilename in {ISS.name}")
    if signing is not None:
        log(f"   {setup_exe.name} and its uninstaller are signed")
    return setup_exe


def numeric_version(version: str) -> str:
    """The x.x.x.x form Windows file version resources need: '0.1.0rc1' -> '0.1.0.0'."""
    match = re.match(r"\d+(?:\.\d+){0,3}", version)
    parts = match.group(0).split(".") if match else ["0"]
    return ".".join(parts + ["0"] * (4 - len(parts)))


def _from_env_or_path(variable: str, tool: str) -> Path | None:
    """The tool named by `variable` (which must exist), else the one on PATH, else None."""
    override = os.environ.get(variable)
    if override:
        path = Path(override)
        if not path.is_file():
            raise SystemExit(f"{variable} points to {path}, which does not exist")
        return path
    on_path = shutil.which(tool)
    return Path(on_path) if on_path else None


def find_iscc() -> Path:
    """ISCC.exe: LANTERN_ISCC, then PATH, then Inno Setup 6's default install folders."""
    given = _from_env_or_path("LANTERN_ISCC", "iscc")
    if given:
        return given
    candidates = [
        Path(base) / "Inno Setup 6" / "ISCC.exe"
        for base in (os.environ.get("PROGRAMFILES(X86)"), os.environ.get("PROGRAMFILES"))
        if base
    ]
    # Inno Setup's "install for me only" choice puts it under the user's programs folder.
    local = os.environ.get("LOCALAPPDATA")
    if local:
        candidates.append(Path(local) / "Programs" / "Inno Setup 6" / "ISCC.exe")
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    raise SystemExit(
        "Inno Setup 6 was not found (ISCC.exe). Install it from https://jrsoftware.org/isdl.php "
        "(or `choco install innosetup`), or set LANTERN_ISCC to the full path of ISCC.exe. "
        f"Looked on PATH and in: {', '.join(str(c) for c in candidates) or '(no Program Files variables)'}"
    )


def find_signtool() -> Path:
    """signtool.exe: LANTERN_SIGNTOOL, then PATH, then the newest Windows 10/11 SDK's x64 tools."""
    given = _from_env_or_path("LANTERN_SIGNTOOL", "signtool")
    if given:
        return given
    # Visual Studio's Windows SDK is installed but not on PATH outside a developer prompt.
    kits = Path(os.environ.get("PROGRAMFILES(X86)", r"C:\Program Files (x86)")) / "Windows Kits" / "10" / "bin"
    found = sorted(kits.glob("10.*/x64/signtool.exe"), key=lambda p: _version_key(p.parent.parent.name))
    if found:
        return found[-1]
    raise SystemExit(
        "LANTERN_WINDOWS_CERT_FILE is set but signtool.exe was not found: install the Windows SDK "
        "(Visual Studio Installer, 'Windows 11 SDK'), put signtool on PATH, or set LANTERN_SIGNTOOL."
    )


def _version_key(name: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", name))


class SigningConfig:
    """Authenticode signing with a .pfx file (signtool sign /fd SHA256 ... /tr ... /td SHA256)."""

    def __init__(self, signtool: Path, cert_file: Path, password: str, timestamp_url: str) -> None:
        self.signtool = signtool
        self.cert_file = cert_file
        self.password = password
        self.timestamp_url = timestamp_url

    @classmethod
    def from_env(cls) -> SigningConfig | None:
        cert = os.environ.get("LANTERN_WINDOWS_CERT_FILE")
        if not cert:
            return None
        cert_file = Path(cert).resolve()
        if not cert_file.is_file():
            raise SystemExit(f"LANTERN_WINDOWS_CERT_FILE points to {cert_file}, which does not exist")
        password = os.environ.get("LANTERN_WINDOWS_CERT_PASSWORD", "")
        timestamp_url = os.environ.get("LANTERN_WINDOWS_TIMESTAMP_URL") or DEFAULT_TIMESTAMP_URL
        return cls(find_signtool(), cert_file, password, timestamp_url)

    def sign_args(self) -> list[str]:
        args = ["sign", "/fd", "SHA256", "/f", str(self.cert_file)]
        if self.password:
            args += ["/p", self.password]
        return [*args, "/tr", self.timestamp_url, "/td", "SHA256", "/d", "Lantern"]

    def sign(self, files: Sequence[Path], log: Log = print) -> None:
        cmd = [str(self.signtool), *self.sign_args(), *(str(f) for f in files)]
        secrets = [self.password] if self.password else []
        # Timestamp servers fail now and then; a retry is cheaper than a failed release build.
        for attempt in range(1, 4):
            try:
                run(cmd, secrets)
                return
            except subprocess.CalledProcessError:
                if attempt == 3:
                    raise
                log(f"   signtool failed (attempt {attempt} of 3); retrying in {10 * attempt} s")
                time.sleep(10 * attempt)

    def inno_sign_tool_command(self) -> str:
        """The command for ISCC's /S<name>=<command>: $q is a quote, $f the file, $$ a literal $."""
        if '"' in self.password:
            raise SystemExit("LANTERN_WINDOWS_CERT_PASSWORD contains a double quote, which Inno Setup's "
                             "Sign Tool command line cannot pass to signtool; change the .pfx password")

        def quote(value: str) -> str:
            return "$q" + value.replace("$", "$$") + "$q"

        parts = [quote(str(self.signtool)), "sign", "/fd", "SHA256", "/f", quote(str(self.cert_file))]
        if self.password:
            parts += ["/p", quote(self.password)]
        parts += ["/tr", quote(self.timestamp_url), "/td", "SHA256", "/d", "$qLantern Setup$q", "$f"]
        return " ".join(parts)


def redact(cmd: Sequence[str], secrets: Sequence[str]) -> list[str]:
    out = list(cmd)
    for secret in sorted(secrets, key=len, reverse=True):
        out = [arg.replace(secret, "***") for arg in out]
    return out


def run(cmd: Sequence[str], secrets: Sequence[str] = ()) -> None:
    """Run cmd; on failure report it with the secrets masked (CalledProcessError would print them)."""
    try:
        subprocess.run(list(cmd), check=True)
    except subprocess.CalledProcessError as error:
        raise subprocess.CalledProcessError(error.returncode, redact(cmd, secrets)) from None
    except FileNotFoundError as error:
        raise SystemExit(f"cannot run {cmd[0]}: {error}") from None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Build Lantern's Windows setup .exe from a PyInstaller folder.")
    parser.add_argument("dist_dir", type=Path, help="the PyInstaller folder, e.g. dist/lantern")
    parser.add_argument("version", help="the app version, e.g. 0.1.0")
    parser.add_argument("out_dir", type=Path, help="where the setup .exe goes, e.g. dist")
    args = parser.parse_args(argv)
    print(package(args.dist_dir, args.version, args.out_dir))
    return 0


if __name__ == "__main__":
    sys.exit(main())
