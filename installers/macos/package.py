"""macOS installer: dist/Lantern.app into a drag-to-Applications .dmg, signed and notarised on request.

    python installers/macos/package.py dist/Lantern.app 0.1.0 dist    # normally run by build.py

Environment:

- LANTERN_MACOS_SIGN_IDENTITY: a "Developer ID Application: Name (TEAMID)" identity in the
  keychain. When set, every piece of code in the app is signed from the inside out with the
  hardened runtime and a secure timestamp, the app's executables get entitlements.plist, and the
  .dmg is signed too. Unset: the app keeps PyInstaller's ad-hoc signatures (fine for local use).
- Notarisation, only when signing: LANTERN_MACOS_NOTARY_PROFILE (a profile saved with
  `xcrun notarytool store-credentials`), or all of LANTERN_MACOS_NOTARY_APPLE_ID,
  LANTERN_MACOS_NOTARY_TEAM_ID and LANTERN_MACOS_NOTARY_PASSWORD (an app-specific password).
  The .dmg is submitted, waited for, and the ticket stapled to it.

entitlements.plist holds only what the hardened runtime would otherwise forbid this app
(Apple: entitlements files take no comments, so the reasons are here):
- com.apple.security.cs.allow-jit and com.apple.security.cs.allow-unsigned-executable-memory:
  writable+executable memory, which ctypes/libffi closures (callbacks into Python, as
  llama-cpp-python's log callback) and Python extension modules may need.
- com.apple.security.cs.disable-library-validation: load libraries not signed by our team, e.g.
  a dylib a wheel ships that signing missed, or one Python loads from outside the bundle.
Entitlements go on executables only: libraries inherit them from the process, and Apple warns
that entitlements on library code can stop it from loading.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import plistlib
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
ENTITLEMENTS = Path(__file__).resolve().parent / "entitlements.plist"
VOLUME_NAME = "Lantern"
DMG_IDENTIFIER = "org.lantern.tutor.dmg"

Log = Callable[[str], object]

# Mach-O magic numbers as they appear on disk (first four bytes).
_THIN_MAGIC = {b"\xfe\xed\xfa\xce": ">", b"\xfe\xed\xfa\xcf": ">", b"\xce\xfa\xed\xfe": "<", b"\xcf\xfa\xed\xfe": "<"}
_FAT_MAGIC = {b"\xca\xfe\xba\xbe": False, b"\xca\xfe\xba\xbf": True}  # value: 64-bit fat_arch entries
_MH_EXECUTE = 0x2
# Nested bundles that are signed as a whole once their contents are signed.
_BUNDLE_SUFFIXES = (".framework", ".app")


def package(app_path: Path, version: str, out_dir: Path, log: Log = print) -> Path:
    """Sign (optionally) app_path, wrap it in out_dir/Lantern-<version>-macos-<arch>.dmg, notarise (optionally)."""
    app_path = app_path.resolve()
    out_dir = out_dir.resolve()
    if not (app_path / "Contents" / "Info.plist").is_file():
        raise SystemExit(f"{app_path} is not an app bundle (no Contents/Info.plist)")
    arch = platform.machine()
    if arch not in ("arm64", "x86_64"):
        raise SystemExit(f"unexpected macOS architecture {arch!r}")
    out_dir.mkdir(parents=True, exist_ok=True)
    dmg = out_dir / f"Lantern-{version}-macos-{arch}.dmg"

    identity = os.environ.get("LANTERN_MACOS_SIGN_IDENTITY", "").strip()
    notary = NotaryAuth.from_env()
    if identity:
        log(f"== signing {app_path.name} as {identity!r} (hardened runtime, timestamped)")
        sign_app(app_path, identity, log=log)
    else:
        log("== macOS app: unsigned (set LANTERN_MACOS_SIGN_IDENTITY to sign)")

    log(f"== disk image {dmg.name}")
    make_dmg(app_path, dmg, log=log)
    if identity:
        run(["codesign", "--force", "--sign", identity, "--timestamp", "--identifier", DMG_IDENTIFIER, str(dmg)])
        run(["codesign", "--verify", "--strict", "--verbose=2", str(dmg)])

    if identity and notary is not None:
        notarize(dmg, notary, log=log)
    elif identity:
        log("   not notarised (set LANTERN_MACOS_NOTARY_PROFILE, or LANTERN_MACOS_NOTARY_APPLE_ID, "
            "LANTERN_MACOS_NOTARY_TEAM_ID and LANTERN_MACOS_NOTARY_PASSWORD)")
    elif notary is not None:
        log("   notarisation credentials are set but signing is off: not notarised")
    return dmg


# -- signing ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SignTarget:
    path: Path
    kind: str  # "library", "executable" or "bundle"

    @property
    def depth(self) -> int:
        return len(self.path.parts)

    @property
    def wants_entitlements(self) -> bool:
        return self.kind == "executable" or (self.kind == "bundle" and self.path.suffix == ".app")


def sign_app(app: Path, identity: str, log: Log = print) -> None:
    """Sign every Mach-O file and nested bundle inside-out, then the app, then verify it strictly.

    Apple discourages `codesign --deep` for signing: it applies one set of options (entitlements
    included) to everything it finds, and finds only code in the places it expects code.
    """
    if not ENTITLEMENTS.is_file():
        raise SystemExit(f"missing {ENTITLEMENTS}")
    # Extended attributes (Finder info, quarantine) on files in a bundle make codesign refuse it.
    run(["xattr", "-cr", str(app)])
    targets = find_sign_targets(app / "Contents")
    counts = {kind: sum(t.kind == kind for t in targets) for kind in ("library", "executable", "bundle")}
    log(f"   {counts['library']} libraries, {counts['executable']} executables, {counts['bundle']} nested bundles")
    base = ["codesign", "--force", "--sign", identity, "--timestamp", "--options", "runtime"]
    with_entitlements = [*base, "--entitlements", str(ENTITLEMENTS)]

    # Deepest first, so nested code is always signed before whatever contains it.
    for depth in sorted({t.depth for t in targets}, reverse=True):
        level = [t for t in targets if t.depth == depth]
        # Loose Mach-O files of one level in batches (one codesign per file would be slow);
        # bundles one at a time, after the files at their own level.
        for wants in (False, True):
            files = [str(t.path) for t in level if t.kind != "bundle" and t.wants_entitlements == wants]
            for chunk in _chunks(files, 100):
                run([*(with_entitlements if wants else base), *chunk])
        for target in level:
            if target.kind == "bundle":
                run([*(with_entitlements if target.wants_entitlements else base), str(target.path)])
    run([*with_entitlements, str(app)])
    run(["codesign", "--verify", "--strict", "--deep", "--verbose=2", str(app)])
    log(f"   {app.name}: signature verified (codesign --verify --strict --deep)")


def find_sign_targets(contents: Path) -> list[SignTarget]:
    """Mach-O files and nested bundles under contents; symlinks are skipped (their targets are listed)."""
    targets: list[SignTarget] = []
    for root, dirs, files in os.walk(contents):  # does not follow symlinked folders
        here = Path(root)
        for name in dirs:
            path = here / name
            if name.endswith(_BUNDLE_SUFFIXES) and not path.is_symlink():
                targets.append(SignTarget(path, "bundle"))
        for name in files:
            path = here / name
            if path.is_symlink():
                continue
            filetype = macho_filetype(path)
            if filetype is not None:
                targets.append(SignTarget(path, "executable" if filetype == _MH_EXECUTE else "library"))
    return targets


def macho_filetype(path: Path) -> int | None:
    """The Mach-O file type (MH_EXECUTE, MH_DYLIB, MH_BUNDLE, ...), or None if path is not Mach-O.

    For a universal binary, the type of its first slice (all slices of one file share it).
    """
    try:
        with path.open("rb") as f:
            head = f.read(8)
            if len(head) < 8:
                return None
            if head[:4] in _FAT_MAGIC:
                (count,) = struct.unpack(">I", head[4:8])
                # Java class files share the 0xCAFEBABE magic; there the next field is a version >= 45.
                if not 0 < count < 45:
                    return None
                entry = ">iiQQII" if _FAT_MAGIC[head[:4]] else ">iiIII"
                raw = f.read(struct.calcsize(entry))
                if len(raw) < struct.calcsize(entry):
                    return None
                f.seek(struct.unpack(entry, raw)[2])  # offset of the first slice
                head = f.read(8)
                if len(head) < 8:
                    return None
            order = _THIN_MAGIC.get(head[:4])
            if order is None:
                return None
            rest = f.read(8)  # cpusubtype, filetype (head holds magic and cputype)
            if len(rest) < 8:
                return None
            return int(struct.unpack(order + "iI", rest)[1])
    except OSError:
        return None


def _chunks(items: Sequence[str], size: int) -> list[Sequence[str]]:
    return [items[i:i + size] for i in range(0, len(items), size)]


# -- disk image ------------------------------------------------------------------------------------


def make_dmg(app: Path, dmg: Path, log: Log = print) -> None:
    """A compressed (UDZO) image holding the app and an Applications link to drag it onto."""
    with tempfile.TemporaryDirectory(prefix="lantern-dmg-") as tmp:
        staging = Path(tmp) / VOLUME_NAME
        staging.mkdir()
        # ditto keeps the bundle's symlinks, permissions and extended attributes (and so its signature).
        run(["ditto", str(app), str(staging / app.name)])
        (staging / "Applications").symlink_to("/Applications")
        cmd = ["hdiutil", "create", "-volname", VOLUME_NAME, "-srcfolder", str(staging), "-ov", "-format", "UDZO",
               str(dmg)]
        # hdiutil fails now and then with "Resource busy" on CI machines (actions/runner-images#7522);
        # trying again is the known remedy.
        for attempt in range(1, 6):
            try:
                run(cmd)
                return
            except subprocess.CalledProcessError:
                if attempt == 5:
                    raise
                log(f"   hdiutil create failed (attempt {attempt} of 5); retrying in {5 * attempt} s")
                time.sleep(5 * attempt)


# -- notarisation ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class NotaryAuth:
    args: tuple[str, ...]  # notarytool authentication options
    secret: str = ""  # masked in anything printed

    @classmethod
    def from_env(cls) -> NotaryAuth | None:
        profile = os.environ.get("LANTERN_MACOS_NOTARY_PROFILE", "").strip()
        if profile:
            return cls(("--keychain-profile", profile))
        names = ("LANTERN_MACOS_NOTARY_APPLE_ID", "LANTERN_MACOS_NOTARY_TEAM_ID", "LANTERN_MACOS_NOTARY_PASSWORD")
        values = {name: os.environ.get(name, "").strip() for name in names}
        given = [name for name in names if values[name]]
        if not given:
            return None
        if len(given) < len(names):
            missing = [name for name in names if not values[name]]
            raise SystemExit(f"notarisation needs all of {', '.join(names)}; missing {', '.join(missing)}")
        password = values["LANTERN_MACOS_NOTARY_PASSWORD"]
        return cls(("--apple-id", values["LANTERN_MACOS_NOTARY_APPLE_ID"],
                    "--team-id", values["LANTERN_MACOS_NOTARY_TEAM_ID"], "--password", password), password)

    def shown(self) -> str:
        return " ".join("***" if self.secret and arg == self.secret else arg for arg in self.args)


def notarize(dmg: Path, auth: NotaryAuth, log: Log = print) -> None:
    """Submit the signed dmg to Apple's notary service, wait, then staple the ticket and check it."""
    log(f"== notarising {dmg.name} (xcrun notarytool submit --wait; usually a few minutes)")
    cmd = ["xcrun", "notarytool", "submit", str(dmg), *auth.args, "--wait", "--output-format", "json"]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    try:
        result = json.loads(proc.stdout)
    except json.JSONDecodeError:
        result = {}
    status = result.get("status")
    submission = result.get("id")
    if status != "Accepted":
        if submission:
            # The log says which file was rejected and why; print it before failing.
            subprocess.run(["xcrun", "notarytool", "log", submission, *auth.args], check=False)
        detail = f"{proc.stdout.strip()}\n{proc.stderr.strip()}".strip()
        if auth.secret:
            detail = detail.replace(auth.secret, "***")
        hint = (f"xcrun notarytool log {submission} {auth.shown()}" if submission
                else "xcrun notarytool history " + auth.shown())
        raise SystemExit(f"notarisation of {dmg.name} ended with status {status!r}:\n{detail}\n"
                         f"Details: {hint}")
    log(f"   accepted (submission {submission}); stapling the ticket")
    run(["xcrun", "stapler", "staple", str(dmg)])
    run(["xcrun", "stapler", "validate", str(dmg)])
    # Gatekeeper's verdict on the stapled image, for the log only: `stapler validate` above is the
    # check, and spctl's answer also depends on the build machine's own Gatekeeper settings.
    subprocess.run(["spctl", "--assess", "--type", "open", "--context", "context:primary-signature", "--verbose=2",
                    str(dmg)], check=False)
    log(f"   {dmg.name}: notarised and stapled")


def run(cmd: Sequence[str]) -> None:
    try:
        subprocess.run(list(cmd), check=True)
    except FileNotFoundError as error:
        raise SystemExit(f"cannot run {cmd[0]} (Xcode command line tools: xcode-select --install): {error}") from None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Build Lantern's macOS .dmg from dist/Lantern.app.")
    parser.add_argument("app_path", type=Path, help="the app bundle, e.g. dist/Lantern.app")
    parser.add_argument("version", nargs="?", help="the app version (default: the bundle's CFBundleShortVersionString)")
    parser.add_argument("out_dir", type=Path, nargs="?", default=REPO_ROOT / "dist", help="where the .dmg goes")
    args = parser.parse_args(argv)
    version = args.version
    if not version:
        with (args.app_path / "Contents" / "Info.plist").open("rb") as f:
            version = plistlib.load(f)["CFBundleShortVersionString"]
    print(package(args.app_path, version, args.out_dir))
    return 0


if __name__ == "__main__":
    sys.exit(main())
