"""`lantern auth hf`: store the Hugging Face token in the OS keyring.

The token is read with a hidden prompt, or from stdin with --stdin (scripts); never from the
command line, where it would land in shell history and the process list.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from typing import Any

from app.core.errors import LanternError
from app.core.i18n import _

HF_TOKENS_URL = "https://huggingface.co/settings/tokens"


def cmd_auth_hf(args: argparse.Namespace) -> int:
    from app.cli import open_services
    from app.services.secrets import HF_TOKEN_SECRET, SecretStore, mask_secret

    with open_services(args) as services:
        settings, paths = services.settings, services.paths
    # --allow-plaintext is this command's own opt-in, so the store is made here rather than taken from
    # the container (whose store follows the setting alone).
    store = SecretStore(paths.config_file.parent,
                        allow_plaintext=bool(args.allow_plaintext or settings.allow_plaintext_secrets))
    env_token = os.environ.get("HF_TOKEN", "").strip()

    if args.status:
        stored = store.get(HF_TOKEN_SECRET)
        if stored:
            print(f"A Hugging Face token is stored in {store.location(HF_TOKEN_SECRET)}: {mask_secret(stored)}")
        else:
            print("No Hugging Face token is stored.")
        if env_token:
            print(f"HF_TOKEN is set in this environment ({mask_secret(env_token)}) and is used instead.")
        return 0

    if args.remove:
        if store.delete(HF_TOKEN_SECRET):
            print("Removed the stored Hugging Face token.")
        else:
            print("No Hugging Face token was stored.")
        if env_token:
            print("Note: HF_TOKEN is still set in this environment and will be used.")
        return 0

    store.check_available()  # before the user types anything
    token = _read_token(from_stdin=args.stdin)
    store.set(HF_TOKEN_SECRET, token)
    print(f"Saved the Hugging Face token ({mask_secret(token)}) in {store.backend_description()}.")
    if env_token:
        print("Note: HF_TOKEN is set in this environment and is used instead of the stored token.")
    return 0


def _read_token(*, from_stdin: bool) -> str:
    if from_stdin:
        token = sys.stdin.read().strip()
        if "\n" in token:
            raise LanternError(_("More than one line was given on stdin."),
                               hint=_("Pipe in only the token, e.g. `printf %s \"$TOKEN\" | lantern auth hf --stdin`."))
    else:
        if not sys.stdin.isatty():
            raise LanternError(
                _("There is no terminal to type the token into."),
                hint=_("Pipe it in with --stdin, e.g. `printf %s \"$TOKEN\" | lantern auth hf --stdin`, "
                       "or set the HF_TOKEN environment variable instead of storing it."),
            )
        import getpass

        try:
            token = getpass.getpass(f"Hugging Face token (from {HF_TOKENS_URL}; input is hidden): ").strip()
        except EOFError:
            token = ""
    if not token:
        raise LanternError(_("No token was given, so nothing was stored."),
                           hint=_("Create a read token at {url} and paste it at the prompt.").format(url=HF_TOKENS_URL))
    if any(ch.isspace() for ch in token):
        raise LanternError(_("That does not look like a token: it contains spaces."),
                           hint=_("Copy the token again from {url}.").format(url=HF_TOKENS_URL))
    return token


def register(sub: Any, *, models_sub: Any) -> None:
    auth = sub.add_parser(
        "auth", help="store access tokens (Hugging Face) in the OS keyring",
        description="Store access tokens for the services Lantern talks to, in the OS keyring.")
    asub = auth.add_subparsers(dest="sub_command", metavar="SUBCOMMAND", required=True)
    hf = asub.add_parser(
        "hf", help="store, check or remove your Hugging Face token",
        description="Store your Hugging Face access token, needed only for gated or private models. "
        "You are asked for it with a hidden prompt (or pipe it in with --stdin); it is never taken from the "
        "command line. It is kept in the OS keyring (Keychain, Credential Manager, GNOME Keyring/KWallet). "
        "Where there is none, use --allow-plaintext to keep it in a private file (mode 0600) in the config "
        "folder, or set the HF_TOKEN environment variable, which always takes precedence over a stored token.",
        epilog=f"Create a token at {HF_TOKENS_URL} (a 'read' token is enough).")
    action = hf.add_mutually_exclusive_group()
    action.add_argument("--stdin", action="store_true",
                        help="read the token from standard input instead of prompting (for scripts)")
    action.add_argument("--status", action="store_true",
                        help="say whether a token is stored and where (the token itself is masked)")
    action.add_argument("--remove", action="store_true", help="delete the stored token")
    hf.add_argument("--allow-plaintext", action="store_true",
                    help="if no OS keyring is available, store the token in a plain-text file readable only "
                    "by you (same as the allow_plaintext_secrets setting, for this call)")


HANDLERS: dict[str, Callable[[argparse.Namespace], int]] = {"auth hf": cmd_auth_hf}
