"""`lantern auth hf` and `lantern auth cloud`: store the Hugging Face token and cloud API keys in the
OS keyring.

A secret is read with a hidden prompt, or from stdin with --stdin (scripts); never from the command
line, where it would land in shell history and the process list.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from typing import Any

from app.core.errors import LanternError, SecretStoreUnavailable
from app.core.i18n import _

HF_TOKENS_URL = "https://huggingface.co/settings/tokens"
DEFAULT_CLOUD_PROVIDER = "openai"


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


def _read_cloud_key(*, from_stdin: bool, provider: str, env_var: str) -> str:
    command = f"lantern auth cloud --provider {provider}"
    if from_stdin:
        key = sys.stdin.read().strip()
        if "\n" in key:
            raise LanternError(_("More than one line was given on stdin."),
                               hint=_("Pipe in only the key, e.g. `printf %s \"$KEY\" | {command} --stdin`.").format(
                                   command=command))
    else:
        if not sys.stdin.isatty():
            raise LanternError(
                _("There is no terminal to type the API key into."),
                hint=_("Pipe it in with --stdin, e.g. `printf %s \"$KEY\" | {command} --stdin`, or set the "
                       "{env_var} environment variable instead of storing it.").format(command=command,
                                                                                        env_var=env_var))
        import getpass

        try:
            key = getpass.getpass(f"API key for {provider} (input is hidden): ").strip()
        except EOFError:
            key = ""
    if not key:
        raise LanternError(_("No API key was given, so nothing was stored."),
                           hint=_("Create a key on {provider}'s website and paste it at the prompt.").format(
                               provider=provider))
    if any(ch.isspace() for ch in key):
        raise LanternError(_("That does not look like an API key: it contains spaces."),
                           hint=_("Copy the key again from {provider}'s website.").format(provider=provider))
    return key


def cmd_auth_cloud(args: argparse.Namespace) -> int:
    """Store, show (masked) or remove one cloud provider's API key: secret `cloud_key.<provider>`."""
    from app.cli import open_services
    from app.services.secrets import SecretStore, cloud_key_env_var, cloud_key_secret, mask_secret

    provider = (args.provider or DEFAULT_CLOUD_PROVIDER).strip()
    try:
        secret, env_var = cloud_key_secret(provider), cloud_key_env_var(provider)
    except ValueError as exc:
        raise LanternError(_("'{provider}' is not a provider name.").format(provider=provider),
                           hint=_("Use lowercase letters, digits, '-', '_' and '.', e.g. --provider openrouter."),
                           ) from exc
    with open_services(args) as services:
        settings, paths = services.settings, services.paths
    store = SecretStore(paths.config_file.parent,
                        allow_plaintext=bool(args.allow_plaintext or settings.allow_plaintext_secrets))
    env_key = os.environ.get(env_var, "").strip()

    if args.status:
        stored = store.get(secret)
        if stored:
            print(f"An API key for {provider} is stored in {store.location(secret)}: {mask_secret(stored)}")
        else:
            print(f"No API key for {provider} is stored.")
        if env_key:
            print(f"{env_var} is set in this environment ({mask_secret(env_key)}) and is used instead.")
        return 0

    if args.remove:
        if store.delete(secret):
            print(f"Removed the stored API key for {provider}.")
        else:
            print(f"No API key for {provider} was stored.")
        if env_key:
            print(f"Note: {env_var} is still set in this environment and will be used.")
        return 0

    try:
        store.check_available()  # before the user types anything
        key = _read_cloud_key(from_stdin=args.stdin, provider=provider, env_var=env_var)
        store.set(secret, key)
    except SecretStoreUnavailable as exc:  # its hint is about the Hugging Face token
        raise SecretStoreUnavailable(
            exc.user_message, debug_context=exc.debug_context,
            hint=_("Install and unlock a keyring (GNOME Keyring or KWallet on Linux), or set {env_var} for this "
                   "session, or opt in to a private plain-text file with `lantern auth cloud --provider {provider} "
                   "--allow-plaintext`.").format(env_var=env_var, provider=provider)) from exc
    print(f"Saved the API key for {provider} ({mask_secret(key)}) in {store.backend_description()}.")
    if env_key:
        print(f"Note: {env_var} is set in this environment and is used instead of the stored key.")
    return 0


def _secret_actions(parser: Any, what: str) -> None:
    action = parser.add_mutually_exclusive_group()
    action.add_argument("--stdin", action="store_true",
                        help=f"read the {what} from standard input instead of prompting (for scripts)")
    action.add_argument("--status", action="store_true",
                        help=f"say whether a {what} is stored and where (the {what} itself is masked)")
    action.add_argument("--remove", action="store_true", help=f"delete the stored {what}")
    parser.add_argument("--allow-plaintext", action="store_true",
                        help=f"if no OS keyring is available, store the {what} in a plain-text file readable only "
                        "by you (same as the allow_plaintext_secrets setting, for this call)")


def register(sub: Any, *, models_sub: Any) -> None:
    auth = sub.add_parser(
        "auth", help="store access tokens (Hugging Face) and cloud API keys in the OS keyring",
        description="Store access tokens and API keys for the services Lantern talks to (Hugging Face, "
        "cloud model providers), in the OS keyring.")
    asub = auth.add_subparsers(dest="sub_command", metavar="SUBCOMMAND", required=True)
    hf = asub.add_parser(
        "hf", help="store, check or remove your Hugging Face token",
        description="Store your Hugging Face access token, needed only for gated or private models. "
        "You are asked for it with a hidden prompt (or pipe it in with --stdin); it is never taken from the "
        "command line. It is kept in the OS keyring (Keychain, Credential Manager, GNOME Keyring/KWallet). "
        "Where there is none, use --allow-plaintext to keep it in a private file (mode 0600) in the config "
        "folder, or set the HF_TOKEN environment variable, which always takes precedence over a stored token.",
        epilog=f"Create a token at {HF_TOKENS_URL} (a 'read' token is enough).")
    _secret_actions(hf, "token")
    cloud = asub.add_parser(
        "cloud", help="store, check or remove a cloud model provider's API key",
        description="Store the API key of an OpenAI-compatible cloud provider (OpenAI, OpenRouter, a vLLM or "
        "Ollama server, ...), used when a question is sent to a cloud model. You are asked for it with a hidden "
        "prompt (or pipe it in with --stdin); it is never taken from the command line. It is kept in the OS "
        "keyring; where there is none, use --allow-plaintext to keep it in a private file (mode 0600) in the "
        "config folder, or set LANTERN_CLOUD_KEY_<PROVIDER> (e.g. LANTERN_CLOUD_KEY_OPENAI), which always "
        "takes precedence over a stored key.")
    cloud.add_argument("--provider", metavar="NAME", default=DEFAULT_CLOUD_PROVIDER,
                       help=f"which provider's key (default: {DEFAULT_CLOUD_PROVIDER}); lowercase letters, "
                       "digits, '-', '_' and '.'")
    _secret_actions(cloud, "key")


HANDLERS: dict[str, Callable[[argparse.Namespace], int]] = {"auth hf": cmd_auth_hf, "auth cloud": cmd_auth_cloud}
