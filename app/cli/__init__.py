"""The `lantern` command.

`lantern` alone opens the app; subcommands work without a window. Errors print the user message
and a hint and exit non-zero; a traceback appears only with --debug.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import Any

from app import __version__
from app.cli.native_alert import show_native_alert
from app.core.errors import LanternError
from app.core.i18n import _
from app.services.hardware.cpu_flags import check_processor

log = logging.getLogger("lantern")

EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_UNSUPPORTED_CPU = 3


def add_profile_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--profile", type=Path, metavar="FILE",
                        help="use a device profile saved by `lantern doctor --json` instead of probing this machine")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="lantern", description="Lantern: an offline-first AI tutor.")
    parser.add_argument("--version", action="version", version=f"lantern {__version__}")
    parser.add_argument("--debug", action="store_true", help="log to the console and show tracebacks")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    gui = sub.add_parser("gui", help="open the app window (the default when no command is given)")
    gui.add_argument("--quit-after-ms", type=int, default=None, help=argparse.SUPPRESS)  # smoke tests
    gui.add_argument("--report-startup", action="store_true", help=argparse.SUPPRESS)  # benchmarks/gui.py

    doctor = sub.add_parser("doctor", help="what this machine has: CPU, memory, disk, GPUs, runtimes",
                            description="Probe this machine and print a readable summary, or with --json the "
                            "versioned device profile to attach to a bug report or pass to --profile.")
    doctor.add_argument("--json", action="store_true", help="print the device profile as JSON")
    add_profile_arg(doctor)

    models = sub.add_parser("models", help="the model catalog and what runs well here")
    msub = models.add_subparsers(dest="sub_command", metavar="SUBCOMMAND", required=True)
    rec = msub.add_parser("recommend", help="rank catalog models for this machine and pick one",
                          description="Rank every catalog model for this machine (or --profile) with a fit verdict, "
                          "estimated memory and speed, and pick one with a reason.")
    add_profile_arg(rec)
    rec.add_argument("--intent", choices=["chat", "code", "multilingual"], default=None,
                     help="what the model is mostly for (default: the 'intent' setting, chat)")
    rec.add_argument("--ctx", type=int, default=None, metavar="N",
                     help="context length in tokens to plan for (default: the 'context_length' setting, 4096)")
    rec.add_argument("--json", action="store_true", help="print the full ranking as JSON")
    rec.add_argument("--all", action="store_true", help="list every variant, not only the best 15")
    for module in _command_modules():
        module.register(sub, models_sub=msub)
    return parser


def _command_modules() -> list[Any]:
    """Command groups that live in their own module; each has register(sub, models_sub=...) and HANDLERS."""
    from app.cli import auth, bench, courses, models, notes, quiz, review, roles, router, stats, sync

    return [models, roles, auth, bench, courses, router, stats, sync, notes, quiz, review]


def open_services(args: argparse.Namespace) -> Any:
    """The service container for one command: settings, logging, the message language, the paths, and
    the device profile from `--profile FILE` when given (else this machine's, probed on first use)."""
    from app.services.app_services import AppServices
    from app.services.i18n_setup import install_language
    from app.services.logging_setup import configure_logging
    from app.services.settings_store import load_settings, paths_for

    settings = load_settings()
    paths = paths_for(settings)
    configure_logging(paths.log_dir, level=settings.log_level, debug=args.debug)
    install_language(settings.ui_language)
    services = AppServices(settings, paths)
    if getattr(args, "profile", None):
        from app.services.profiles import read_profile

        services.use_profile(read_profile(args.profile))
    return services


def _install_language() -> None:
    """Messages in the `ui_language` setting (or the system's language) from the first one on, even
    for argument checks made before a command opens its services."""
    from app.services.i18n_setup import install_language
    from app.services.settings_store import load_settings

    try:
        install_language(load_settings().ui_language)
    except LanternError:  # a broken settings file: the command reports it, in English
        install_language("en")


def cmd_doctor(args: argparse.Namespace) -> int:
    from app.core.report import profile_summary

    with open_services(args) as services:
        profile = services.profile()
    if args.json:
        print(profile.to_json())
    else:
        print("\n".join(profile_summary(profile)))
    return 0


def cmd_recommend(args: argparse.Namespace) -> int:
    from app.core.report import recommendation_json, recommendation_table

    if args.ctx is not None and not 512 <= args.ctx <= 1_048_576:
        raise LanternError(_("--ctx {n} is out of range.").format(n=args.ctx),
                           hint=_("Use a context length between 512 and 1048576."))
    with open_services(args) as services:
        rec = services.recommend(intent=args.intent, context_length=args.ctx)
        profile = services.profile()
    if args.json:
        print(json.dumps(recommendation_json(rec, profile), indent=2))
        return 0
    print("\n".join(recommendation_table(rec, limit=None if args.all else 15)))
    print()
    print((_("Recommended: ") if rec.pick else "") + rec.reason)
    for w in rec.warnings:
        print(_("Warning: {w}").format(w=w))
    return 0


def cmd_gui(args: argparse.Namespace) -> int:
    from app.main import run_gui

    return run_gui(debug=args.debug, quit_after_ms=getattr(args, "quit_after_ms", None),
                   report_startup=getattr(args, "report_startup", False))


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    handlers = {"doctor": cmd_doctor, "gui": cmd_gui, None: cmd_gui, "models recommend": cmd_recommend}
    for module in _command_modules():
        handlers.update(module.HANDLERS)
    key = f"{args.command} {args.sub_command}" if getattr(args, "sub_command", None) else args.command
    handler = handlers[key]
    refusal = check_processor()  # before anything imports NumPy, Qt or llama.cpp
    if refusal is not None:
        print(f"Error: {refusal.user_message}\nHint: {refusal.hint}", file=sys.stderr)  # before any catalog loads
        if handler is cmd_gui:  # an app started from a menu has no terminal to print to
            show_native_alert("Lantern cannot start", f"{refusal.user_message}\n\n{refusal.hint}")
        return EXIT_UNSUPPORTED_CPU
    try:
        _install_language()
        return handler(args)
    except LanternError as exc:
        if args.debug:
            log.exception("command failed")
        print(_("Error: {message}").format(message=exc.user_message), file=sys.stderr)
        if exc.hint:
            print(_("Hint: {hint}").format(hint=exc.hint), file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `lantern doctor | head`
        return 0


if __name__ == "__main__":
    sys.exit(main())
