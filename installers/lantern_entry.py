"""The frozen app's entry point (build.spec): the same as the `lantern` command."""

import multiprocessing
import os
import sys

if __name__ == "__main__":
    if sys.argv[1:2] == ["--lantern-sandbox-child"]:  # the snippet sandbox's child (app/services/learning/sandbox.py)
        from app.services.learning.sandbox_child import main as sandbox_child

        sys.exit(sandbox_child(sys.argv[2:]))
    multiprocessing.freeze_support()
    # A windowed build (Windows Lantern.exe, the macOS .app) starts with no stdout/stderr, and
    # llama-cpp-python redirects them by file descriptor while loading a model: give it real ones.
    for name in ("stdout", "stderr"):
        if getattr(sys, name) is None:
            setattr(sys, name, open(os.devnull, "w", encoding="utf-8"))  # noqa: SIM115 (lives as long as the app)

    from app.cli import main

    sys.exit(main())
