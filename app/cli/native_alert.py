"""A message box without Qt, for the one error that must be shown before Qt may load: a processor
the bundled libraries cannot run on (loading Qt there could itself die on an illegal instruction)."""

from __future__ import annotations

import shutil
import subprocess
import sys


def show_native_alert(title: str, text: str) -> bool:
    """Show `text` in the platform's own dialog; False where none could be shown."""
    try:
        if sys.platform == "win32":
            import ctypes

            MB_ICONERROR = 0x10
            ctypes.windll.user32.MessageBoxW(None, text, title, MB_ICONERROR)  # type: ignore[attr-defined]
            return True
        if sys.platform == "darwin":
            script = 'on run argv\ndisplay alert (item 1 of argv) message (item 2 of argv) as critical\nend run'
            subprocess.run(["osascript", "-e", script, title, text], timeout=600, check=False)
            return True
        for tool, args in (("zenity", ["--error", f"--title={title}", f"--text={text}"]),
                           ("kdialog", ["--title", title, "--error", text])):
            if shutil.which(tool):
                subprocess.run([tool, *args], timeout=600, check=False)
                return True
    except (OSError, subprocess.SubprocessError):
        return False
    return False
