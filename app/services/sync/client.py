"""The sync client: this device's account on a sync server, and one round of push-then-pull.

- The account (server address, user, this device's name and server id) lives in the learning
  record's `sync_meta`; the token lives only in the secret store (OS keyring), never in a file.
- Every request goes through the network gate: nothing leaves the machine in offline mode, and the
  address must be https unless it is this machine (plain http to another host would carry the
  password and token in clear).
- A round pushes every pending record (in pages the server accepts), then pulls pages after the
  cursor until the server says there is no more; each page is applied in one transaction, so a
  connection cut at any point leaves either the old or the new state, and the next round resumes.
  The server skips records it already has, so a push retried after a lost reply duplicates nothing.
- Errors become SyncError subclasses with a hint; the server's error code decides which.

Signing in to a different account marks every local record as not pushed, so the new account
receives this device's whole record (the server keeps one copy per record id and account).
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from pydantic import ValidationError

from app.core.errors import (
    LanternError,
    OfflineModeEnabled,
    SyncAuthFailed,
    SyncError,
    SyncNotSignedIn,
    SyncRefused,
    SyncServerInvalid,
    SyncUnreachable,
)
from app.core.i18n import _
from app.core.sync.hlc import MAX_DRIFT_MS
from app.core.sync.records import Change, Event, body_size, change_from_body, event_from_body
from app.services.net import NetworkGate, is_loopback_url
from app.services.storage.learning_record import LearningRecord
from app.services.sync import protocol as p

log = logging.getLogger(__name__)

SYNC_TOKEN_SECRET = "sync_token"
_PUSH_BYTES = p.MAX_REQUEST_BYTES // 2  # leave room for JSON framing and escaping


@dataclass(frozen=True)
class Account:
    server: str
    user: str
    device_name: str
    device_id: str


@dataclass(frozen=True)
class SyncStatus:
    account: Account | None
    signed_in: bool  # an account and a token for it
    pending: int  # local records the server does not have yet
    conflicts: int  # notes edited on two devices, waiting for the learner
    last_synced_at: datetime | None
    last_error: str | None
    last_error_hint: str | None

    def to_json(self) -> dict[str, Any]:
        return {
            "signed_in": self.signed_in,
            "server": self.account.server if self.account else None,
            "user": self.account.user if self.account else None,
            "device_name": self.account.device_name if self.account else None,
            "device_id": self.account.device_id if self.account else None,
            "pending": self.pending,
            "conflicts": self.conflicts,
            "last_synced_at": self.last_synced_at.isoformat() if self.last_synced_at else None,
            "last_error": self.last_error,
            "last_error_hint": self.last_error_hint,
        }


@dataclass(frozen=True)
class SyncReport:
    pushed: int
    duplicates: int
    pulled: int  # records new to this device
    skipped: int  # pulled records this version cannot read (a newer Lantern wrote them)
    cursor: int
    conflicts: int

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


def default_device_name() -> str:
    """How this device is listed on the account unless the learner names it: the computer's name."""
    import platform

    return platform.node() or _("This computer")


def check_server_url(url: str) -> str:
    """The address normalised (no trailing slash), or SyncServerInvalid saying why not."""
    text = url.strip().rstrip("/")
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise SyncServerInvalid(_("{url} is not a sync server address.").format(url=url or "''"),
                                hint=_("Write it as https://sync.example.org (or http://127.0.0.1:PORT for a server on "
                                       "this machine)."))
    if parts.scheme == "http" and not is_loopback_url(text):
        raise SyncServerInvalid(
            _("Lantern will not sign in to {url} over plain http: the password and sync token would cross the "
              "network unencrypted.").format(url=text),
            hint=_("Use the server's https:// address (docs/sync.md shows a reverse proxy with TLS); plain http is "
                   "allowed only to this machine (127.0.0.1, localhost)."))
    if parts.query or parts.fragment:
        raise SyncServerInvalid(_("{url} has a query or fragment; give the server's base address.").format(url=text))
    return text


class SyncClient:
    """Sign in and out, and run sync rounds, for the learning record of this device.

    `http_options` go to the gate's client (tests pass event hooks that cut connections)."""

    def __init__(self, record: LearningRecord, *, gate: NetworkGate, secrets: Any, timeout_s: float = 30.0,
                 page_size: int = p.DEFAULT_PULL_LIMIT, http_options: dict[str, Any] | None = None) -> None:
        self.record = record
        self.gate = gate
        self.secrets = secrets
        self.timeout_s = timeout_s
        self.page_size = min(page_size, p.MAX_PULL_LIMIT)
        self.http_options = dict(http_options or {})
        self._round = threading.Lock()  # one round at a time per process (the GUI's timer vs "Sync now")

    # -- the account ---------------------------------------------------------------------------------

    def account(self) -> Account | None:
        values = {name: self.record.meta(f"sync.{name}") for name in ("server", "user", "device_name", "device_id")}
        if not all(values.values()):
            return None
        return Account(**values)  # type: ignore[arg-type]

    def token(self) -> str | None:
        return self.secrets.get(SYNC_TOKEN_SECRET) if self.account() is not None else None

    def register(self, server: str, user: str, password: str, device_name: str) -> Account:
        """Create an account on `server` and sign this device in to it."""
        return self._sign_in("/v1/accounts", server, user, password, device_name)

    def login(self, server: str, user: str, password: str, device_name: str) -> Account:
        return self._sign_in("/v1/sessions", server, user, password, device_name)

    def check_can_reach(self, server: str) -> str:
        """The normalised address, or why not: not usable (SyncServerInvalid) or offline mode is on."""
        server = check_server_url(server)
        self.gate.refuse_if_offline(_("the sync server {server}").format(server=server), server)
        return server

    def _sign_in(self, path: str, server: str, user: str, password: str, device_name: str) -> Account:
        server = self.check_can_reach(server)
        try:
            body = p.Credentials(user=user, password=password, device_name=device_name)
        except ValidationError as err:
            raise SyncRefused(_("The account details are not valid: {why}.").format(why=_first_error(err)),
                              hint=_("A user name is 3-64 lowercase letters, digits, '.', '_' or '-'; a password "
                                     "has at least 8 characters."), code=p.E_INVALID) from err
        data = self._request("POST", server, path, json=body.model_dump(), token=None)
        session = p.Session.model_validate(data)
        try:
            self.secrets.set(SYNC_TOKEN_SECRET, session.token)
        except LanternError:
            self._forget_remote_session(server, session.token)  # no token left behind on the server either
            raise
        previous = f"{self.record.meta('sync.server')}|{self.record.meta('sync.user')}"
        if previous != f"{server}|{session.user}":
            self.record.mark_all_unpushed()
            self.record.set_meta("sync.cursor", "0")
            self.record.set_meta("sync.cursor_id", None)
        for name, value in (("server", server), ("user", session.user), ("device_name", device_name),
                            ("device_id", session.device_id), ("last_error", None), ("last_error_hint", None)):
            self.record.set_meta(f"sync.{name}", value)
        log.info("signed in to %s as %s (device %s)", server, session.user, session.device_id)
        account = self.account()
        assert account is not None
        return account

    def logout(self) -> bool:
        """Sign this device out: the server forgets its token when it can be reached (returns whether it
        was), and the token leaves the keyring either way. The learning record stays on the device."""
        account = self.account()
        try:
            token = self.token()
        except LanternError as err:  # no keyring now: there is no token here to forget either
            log.info("no sync token to forget: %s", err)
            token = None
        reached = False
        if account is not None and token is not None:
            reached = self._forget_remote_session(account.server, token)
        try:
            self.secrets.delete(SYNC_TOKEN_SECRET)
        except LanternError as err:
            log.warning("could not remove the sync token from the secret store: %s", err)
        for name in ("device_id", "last_error", "last_error_hint"):
            self.record.set_meta(f"sync.{name}", None)
        return reached

    def _forget_remote_session(self, server: str, token: str) -> bool:
        try:
            self._request("DELETE", server, "/v1/sessions/current", token=token)
            return True
        except (SyncError, OfflineModeEnabled) as err:
            log.info("could not tell %s to forget this device's token: %s", server, err)
            return False

    def devices(self) -> list[p.Device]:
        account, token = self._online_account()
        return p.Devices.model_validate(self._request("GET", account.server, "/v1/devices", token=token)).devices

    def revoke_device(self, device_id: str) -> None:
        account, token = self._online_account()
        self._request("DELETE", account.server, f"/v1/devices/{device_id}", token=token)

    def status(self) -> SyncStatus:
        account = self.account()
        try:
            signed_in = account is not None and self.token() is not None
        except LanternError:
            signed_in = False
        synced = self.record.meta("sync.last_synced_at")
        return SyncStatus(account, signed_in, self.record.pending_count(), len(self.record.conflicts()),
                          datetime.fromisoformat(synced) if synced else None,
                          self.record.meta("sync.last_error"), self.record.meta("sync.last_error_hint"))

    def _online_account(self) -> tuple[Account, str]:
        """The account and its token, once offline mode is known to be off (so an offline device says
        "offline", not "no keyring", when both are true)."""
        account = self.account()
        if account is not None:
            self.gate.refuse_if_offline(_("the sync server {server}").format(server=account.server), account.server)
        return self._signed_in()

    def _signed_in(self) -> tuple[Account, str]:
        account = self.account()
        token = self.token() if account is not None else None
        if account is None or token is None:
            raise SyncNotSignedIn(_("This device is not signed in to a sync server."),
                                  hint=_("Sign in with `lantern sync login --server URL --user NAME --password-stdin` "
                                         "or in Settings → Account."))
        return account, token

    # -- a round -------------------------------------------------------------------------------------

    def sync_now(self) -> SyncReport:
        """Push what is pending, then pull what is new. Records the outcome for `status()`."""
        with self._round:
            try:
                report = self._round_or_start_over()
            except (SyncError, OfflineModeEnabled) as err:
                if isinstance(err, SyncAuthFailed) and err.code in (p.E_TOKEN_EXPIRED, p.E_TOKEN_REVOKED,
                                                                     p.E_UNAUTHORIZED):
                    self._drop_token()
                self.record.set_meta("sync.last_error", err.user_message)
                self.record.set_meta("sync.last_error_hint", err.hint)
                raise
            self.record.set_meta("sync.last_synced_at", datetime.now(UTC).isoformat(timespec="seconds"))
            self.record.set_meta("sync.last_error", None)
            self.record.set_meta("sync.last_error_hint", None)
            return report

    def _round_or_start_over(self) -> SyncReport:
        try:
            return self._round_trip()
        except SyncRefused as err:
            if err.code == p.E_CLOCK_AHEAD:
                # Records dated by a clock that was ahead (now fixed, or the server would say so again):
                # re-date them from this clock, then try once more.
                if not self.record.restamp_future(int(time.time() * 1000) + MAX_DRIFT_MS):
                    raise
                return self._round_trip()
            if err.code != p.E_CURSOR_AHEAD:
                raise
        # The server lost records (restored from an older backup): pull from its beginning and give it
        # back everything this device holds. Ids make both directions safe.
        log.warning("the sync server is behind this device's cursor: pulling from 0 and pushing everything")
        self.record.mark_all_unpushed()
        self.record.set_meta("sync.cursor", "0")
        self.record.set_meta("sync.cursor_id", None)
        return self._round_trip()

    def _drop_token(self) -> None:
        try:
            self.secrets.delete(SYNC_TOKEN_SECRET)
        except LanternError as err:
            log.warning("could not remove a refused sync token: %s", err)

    def _round_trip(self) -> SyncReport:
        account, token = self._online_account()
        pushed = duplicates = 0
        with self._client() as http:
            sent: set[str] = set()
            while batch := self._next_batch():
                if batch[0].id in sent:  # marked pushed but still pending: never loop on it
                    raise SyncRefused(_("Lantern could not record what the sync server accepted."),
                                      hint=_("Try again; if it keeps happening, run with --debug and report the log."),
                                      code=p.E_SERVER)
                sent.update(r.id for r in batch)
                result = p.PushResult.model_validate(self._send(http, "POST", account.server, "/v1/records", token,
                                                                json={"records": [_wire(r) for r in batch]}))
                self.record.mark_pushed([r.id for r in batch])
                pushed += result.accepted
                duplicates += result.duplicates
            pulled = skipped = 0
            cursor = int(self.record.meta("sync.cursor") or 0)
            while True:
                params: dict[str, Any] = {"after": cursor, "limit": self.page_size}
                if cursor and (cursor_id := self.record.meta("sync.cursor_id")):
                    params["after_id"] = cursor_id
                data = self._send(http, "GET", account.server, "/v1/records", token, params=params)
                records, bad = _read_page(data)
                last_id = data["records"][-1].get("id") if data["records"] else None
                applied = self.record.apply_remote(records, cursor_name="sync.cursor", cursor=int(data["cursor"]),
                                                   also={"sync.cursor_id": last_id} if last_id else None)
                pulled += applied.events + applied.changes
                skipped += bad
                if int(data["cursor"]) <= cursor and data.get("more"):
                    raise SyncRefused(_("The sync server sent a page that does not move forward."),
                                      hint=_("Try again later; if it keeps happening, report it to whoever runs the "
                                             "server."), code=p.E_SERVER)
                cursor = int(data["cursor"])
                if not data.get("more"):
                    break
        return SyncReport(pushed, duplicates, pulled, skipped, cursor, len(self.record.conflicts()))

    def _next_batch(self) -> list[Event | Change]:
        batch = self.record.pending(p.MAX_PUSH_RECORDS)
        size = 0
        for i, record in enumerate(batch):
            size += body_size(record.body()) + 200
            if size > _PUSH_BYTES and i > 0:
                return batch[:i]
        return batch

    # -- HTTP ----------------------------------------------------------------------------------------

    def _client(self) -> Any:
        return self.gate.http_client(timeout=self.timeout_s, follow_redirects=False,
                                     headers={p.PROTOCOL_HEADER: str(p.PROTOCOL_VERSION)}, **self.http_options)

    def _request(self, method: str, server: str, path: str, *, token: str | None, **kw: Any) -> Any:
        self.gate.refuse_if_offline(_("the sync server {server}").format(server=server), server)
        with self._client() as http:
            return self._send(http, method, server, path, token, **kw)

    def _send(self, http: Any, method: str, server: str, path: str, token: str | None, **kw: Any) -> Any:
        import httpx2

        headers = {"Authorization": f"Bearer {token}"} if token else {}
        try:
            response = http.request(method, server + path, headers=headers, **kw)
        except httpx2.TimeoutException as err:
            raise SyncUnreachable(_("The sync server {server} did not answer in time.").format(server=server),
                                  hint=_("Lantern tries again later; your changes stay on this device."),
                                  code="timeout") from err
        except httpx2.TransportError as err:
            raise SyncUnreachable(_("Cannot reach the sync server {server}.").format(server=server),
                                  hint=_("Check the connection and the server address; your changes stay on this "
                                         "device and sync later."), debug_context={"error": str(err)},
                                  code="unreachable") from err
        if response.status_code >= 400:
            raise _error_for(response, server)
        if response.status_code == 204:
            return None
        try:
            return response.json()
        except ValueError as err:
            raise SyncUnreachable(_("{server} answered with something that is not a Lantern sync server's reply.")
                                  .format(server=server),
                                  hint=_("Check the server address (it should be the sync server's base URL)."),
                                  code="not_json") from err


def _first_error(err: ValidationError) -> str:
    first = err.errors()[0]
    where = ".".join(str(part) for part in first.get("loc", ()))
    return f"{where}: {first.get('msg', '')}" if where else str(first.get("msg", ""))


def _error_for(response: Any, server: str) -> SyncError:
    status = response.status_code
    try:
        detail = p.ErrorBody.model_validate(response.json()).error
        code, message, hint = detail.code, detail.message, detail.hint
    except (ValueError, ValidationError):
        code, message, hint = None, None, None
    retry = response.headers.get("Retry-After")
    retry_s = float(retry) if retry and retry.isdigit() else None
    context = {"status": status, "server": server, "code": code}
    if code == p.E_PROTOCOL or status == 426:
        return SyncRefused(message or _("The sync server speaks a different protocol version."),
                           hint=hint or _("Update Lantern (or ask whoever runs the server to update it)."),
                           code=p.E_PROTOCOL, debug_context=context)
    if status == 401:
        if code == p.E_BAD_CREDENTIALS:
            return SyncAuthFailed(_("The user name or password is wrong."), hint=_("Check them and try again."),
                                  code=code, debug_context=context)
        return SyncAuthFailed(message or _("The sync server no longer accepts this device's sign-in."),
                              hint=_("Sign in again (Settings → Account, or `lantern sync login`); nothing on this "
                                     "device was lost."), code=code or p.E_UNAUTHORIZED, debug_context=context)
    if status == 429:
        wait = f" {int(retry_s)} s" if retry_s else ""
        return SyncRefused(message or _("Too many attempts."),
                           hint=hint or _("Wait{wait} and try again.").format(wait=wait), code=p.E_RATE_LIMITED,
                           retry_after_s=retry_s, debug_context=context)
    if status >= 500:
        return SyncUnreachable(message or _("The sync server failed ({status}).").format(status=status),
                               hint=_("Lantern tries again later; your changes stay on this device."),
                               code=code or p.E_SERVER, retry_after_s=retry_s, debug_context=context)
    if status == 404 and code is None:
        return SyncRefused(_("{server} has no Lantern sync service at this address.").format(server=server),
                           hint=_("Check the server address."), code=p.E_NOT_FOUND, debug_context=context)
    return SyncRefused(message or _("The sync server refused the request ({status}).").format(status=status),
                       hint=hint, code=code, debug_context=context)


def _wire(record: Event | Change) -> dict[str, Any]:
    if isinstance(record, Event):
        return {"id": record.id, "type": "event", "kind": record.kind, "hlc": record.hlc, "body": record.body()}
    return {"id": record.id, "type": "change", "kind": record.entity, "hlc": record.hlc, "body": record.body()}


def _read_page(data: Any) -> tuple[list[Event | Change], int]:
    """The records of a pulled page this version understands, and how many it skipped."""
    if (not isinstance(data, dict) or not isinstance(data.get("records"), list)
            or not isinstance(data.get("cursor"), int)):
        raise SyncUnreachable(_("The sync server sent a page this version of Lantern cannot read."),
                              hint=_("Update Lantern, or check the server address."), code="bad_page")
    out: list[Event | Change] = []
    skipped = 0
    for item in data["records"]:
        try:
            record = p.PulledRecord.model_validate(item)
        except ValidationError as err:
            # A newer Lantern's record kind: skip it here (it stays on the server and on the device that
            # wrote it) rather than stop syncing everything else.
            log.warning("skipping a pulled record this version cannot read: %s", _first_error(err))
            skipped += 1
            continue
        if record.type == "event":
            out.append(event_from_body(record.id, record.kind, record.hlc, record.body))
        else:
            out.append(change_from_body(record.id, record.kind, record.hlc, record.body))
    return out, skipped
