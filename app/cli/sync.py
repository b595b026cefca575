"""`lantern sync …`: this device's account on a sync server, and syncing the learning record.

The password is read from stdin (--password-stdin) or a hidden prompt, never from the command
line, where it would land in shell history and the process list. The token goes to the OS keyring.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from typing import Any

from app.core.errors import LanternError
from app.core.i18n import _


def register(sub: Any, *, models_sub: Any) -> None:
    sync = sub.add_parser("sync", help="sign in to a sync server and sync progress, notes and bookmarks",
                          description="Keep the learning record (lesson progress, notes, bookmarks, the tutor "
                          "conversation, quiz history) in step across devices through a Lantern sync server "
                          "(docs/sync.md). Nothing is sent in offline mode.")
    ssub = sync.add_subparsers(dest="sub_command", metavar="SUBCOMMAND", required=True)
    for name, text in (("register", "create an account on a sync server and sign this device in"),
                       ("login", "sign this device in to an existing account")):
        cmd = ssub.add_parser(name, help=text, description=text[0].upper() + text[1:] + ".")
        cmd.add_argument("--server", required=True, metavar="URL",
                         help="the sync server's address: https://…, or http://127.0.0.1:PORT on this machine")
        cmd.add_argument("--user", required=True, metavar="NAME", help="the account's user name")
        cmd.add_argument("--password-stdin", action="store_true",
                         help="read the password from stdin (scripts) instead of a hidden prompt")
        cmd.add_argument("--device-name", metavar="NAME", default=None,
                         help="how this device is listed on the account (default: this computer's name)")
        cmd.add_argument("--allow-plaintext", action="store_true",
                         help="with no OS keyring, keep the token in a private file (mode 0600) in the config folder")
    ssub.add_parser("logout", help="sign this device out (the learning record stays here)")
    status = ssub.add_parser("status", help="the account, pending changes, conflicts and the last sync")
    status.add_argument("--json", action="store_true", help="print the status as JSON")
    now = ssub.add_parser("now", help="push pending changes and pull new ones now")
    now.add_argument("--json", action="store_true", help="print what was synced as JSON")
    devices = ssub.add_parser("devices", help="list the account's devices, or revoke one")
    devices.add_argument("--revoke", metavar="DEVICE_ID", default=None,
                         help="sign that device out everywhere: its token stops working")
    devices.add_argument("--json", action="store_true", help="print the devices as JSON")


def _read_password(*, from_stdin: bool) -> str:
    if from_stdin:
        password = sys.stdin.read().rstrip("\r\n")
        if "\n" in password:
            raise LanternError(_("More than one line was given on stdin."),
                               hint=_("Pipe in only the password, e.g. `printf %s \"$PASSWORD\" | lantern sync login "
                                      "… --password-stdin`."))
        return password
    if not sys.stdin.isatty():
        raise LanternError(_("There is no terminal to type the password into."),
                           hint=_("Pipe it in with --password-stdin."))
    import getpass

    try:
        return getpass.getpass(_("Password (input is hidden): "))
    except EOFError:
        return ""


def _sign_in(args: argparse.Namespace, *, new_account: bool) -> int:
    from app.cli import open_services
    from app.services.sync.client import default_device_name

    device_name = args.device_name or default_device_name()
    with open_services(args) as services:
        if args.allow_plaintext and not services.settings.allow_plaintext_secrets:
            services.apply_settings(services.settings.model_copy(update={"allow_plaintext_secrets": True}))
        client = services.sync
        client.check_can_reach(args.server)  # before asking for a password that could not be used
        password = _read_password(from_stdin=args.password_stdin)
        sign_in = client.register if new_account else client.login
        account = sign_in(args.server, args.user, password, device_name)
        print(_("Signed in to {server} as {user} (this device: {device}).").format(
            server=account.server, user=account.user, device=account.device_name))
        report = client.sync_now()
        print(_sync_line(report))
    return 0


def cmd_register(args: argparse.Namespace) -> int:
    return _sign_in(args, new_account=True)


def cmd_login(args: argparse.Namespace) -> int:
    return _sign_in(args, new_account=False)


def cmd_logout(args: argparse.Namespace) -> int:
    from app.cli import open_services

    with open_services(args) as services:
        if services.sync.account() is None:
            print(_("This device is not signed in."))
            return 0
        reached = services.sync.logout()
    print(_("Signed out.") if reached else
          _("Signed out on this device; the server could not be told (it forgets the token when it expires, or revoke "
            "this device from another one with `lantern sync devices --revoke`)."))
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    from app.cli import open_services

    with open_services(args) as services:
        status = services.sync.status()
        offline = services.settings.offline
    if args.json:
        print(json.dumps({**status.to_json(), "offline_mode": offline}, indent=2))
        return 0
    if status.account is None:
        print(_("Not signed in. Sign in with `lantern sync login --server URL --user NAME`."))
    else:
        state = _("signed in") if status.signed_in else _("signed out (sign in again)")
        print(_("Account: {user} on {server} ({state})").format(user=status.account.user,
                                                                  server=status.account.server, state=state))
        print(_("This device: {name} ({id})").format(name=status.account.device_name, id=status.account.device_id))
    print(_("Pending changes: {n}").format(n=status.pending))
    print(_("Conflicts to resolve: {n}").format(n=status.conflicts))
    print(_("Last synced: {when}").format(when=status.last_synced_at.isoformat() if status.last_synced_at
                                          else _("never")))
    if offline:
        print(_("Offline mode: on (nothing syncs until it is turned off)."))
    if status.last_error:
        print(_("Last error: {error}").format(error=status.last_error))
        if status.last_error_hint:
            print(_("Hint: {hint}").format(hint=status.last_error_hint))
    return 0


def _sync_line(report: Any) -> str:
    line = _("Synced: sent {pushed}, received {pulled}").format(pushed=report.pushed, pulled=report.pulled)
    if report.duplicates:
        line += _(" ({n} already on the server)").format(n=report.duplicates)
    if report.skipped:
        line += _("; {n} records from a newer Lantern were skipped").format(n=report.skipped)
    if report.conflicts:
        line += _("; {n} notes have conflicts to resolve (`lantern notes list`)").format(n=report.conflicts)
    return line + "."


def cmd_now(args: argparse.Namespace) -> int:
    from app.cli import open_services

    with open_services(args) as services:
        report = services.sync.sync_now()
    print(json.dumps(report.to_json(), indent=2) if args.json else _sync_line(report))
    return 0


def cmd_devices(args: argparse.Namespace) -> int:
    from app.cli import open_services

    with open_services(args) as services:
        if args.revoke:
            services.sync.revoke_device(args.revoke)
            print(_("Revoked device {id}: its token no longer works.").format(id=args.revoke))
            return 0
        devices = services.sync.devices()
    if args.json:
        print(json.dumps([d.model_dump(mode="json") for d in devices], indent=2))
        return 0
    for d in devices:
        mark = _(" (this device)") if d.current else _(" (revoked)") if d.revoked else ""
        seen = d.last_seen_at.isoformat(timespec="seconds") if d.last_seen_at else _("never")
        print(f"{d.device_id}  {d.name}{mark}  " + _("last seen {when}").format(when=seen))
    return 0


HANDLERS: dict[str, Callable[[argparse.Namespace], int]] = {
    "sync register": cmd_register, "sync login": cmd_login, "sync logout": cmd_logout,
    "sync status": cmd_status, "sync now": cmd_now, "sync devices": cmd_devices,
}
