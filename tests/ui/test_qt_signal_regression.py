"""PySide6 6.12.0 on CPython 3.11 corrupts the refcount of True on every Signal.emit and the process
aborts after a few hundred emits (DESIGN.md). The dependency pin keeps 6.12.0 away from 3.11; this
test proves the installed pair survives 20,000 emits. It runs in a subprocess so an abort is
reported as a failure instead of killing the test run."""

from __future__ import annotations

import subprocess
import sys
import textwrap

SCRIPT = textwrap.dedent("""
    import sys
    from PySide6.QtCore import QCoreApplication, QObject, Signal

    class Emitter(QObject):
        flag = Signal(bool)

    app = QCoreApplication([])
    emitter = Emitter()
    received = [0, True]

    def on_flag(value):
        received[0] += 1
        received[1] = received[1] and value is True

    emitter.flag.connect(on_flag)
    before = sys.getrefcount(True)
    for _ in range(20_000):
        emitter.flag.emit(True)
    after = sys.getrefcount(True)
    print(received[0], received[1], before, after)
""")


def test_twenty_thousand_signal_emits_survive():
    proc = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, f"process died ({proc.returncode}): {proc.stderr[-500:]}"
    count, all_true, before, after = proc.stdout.split()
    assert int(count) == 20_000 and all_true == "True"
    # 3.12+ makes True immortal; on 3.11 a leak of one reference per emit would show here.
    assert abs(int(after) - int(before)) < 1_000


def test_pyside6_pin_excludes_the_broken_release():
    from importlib.metadata import version

    if sys.version_info[:2] == (3, 11):
        assert version("PySide6-Essentials") != "6.12.0"
