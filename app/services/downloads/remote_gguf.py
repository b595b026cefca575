"""Read a GGUF header from the hub with HTTP Range requests, without fetching the weights.

So any GGUF the learner names — catalog or not — gets a memory estimate and a fit verdict before a
byte of weights is downloaded. The parser asks for big blocks (1 MiB and up), so a header of a few
MB costs a handful of requests.
"""

from __future__ import annotations

import re

import httpx2

from app.core.downloads import RemoteFile
from app.core.errors import DownloadFailed
from app.core.gguf import GgufHeader, parse_gguf_header
from app.core.i18n import _
from app.services.downloads.hub import HubClient, retryable, translate_hub_error

MAX_BLOCK = 64 << 20  # a server that ignores Range would otherwise stream the whole file to us


class RemoteRangeReader:
    """`read_at(offset, size)` over HTTP Range; counts bytes so callers can prove weights were not fetched."""

    def __init__(self, hub: HubClient, client: httpx2.Client, remote: RemoteFile) -> None:
        self.hub, self.client, self.remote = hub, client, remote
        self.location = remote.location or remote.url
        self.bytes_read = 0
        self.requests = 0

    def __call__(self, offset: int, size: int) -> bytes:
        if offset >= self.remote.size or size <= 0:
            return b""
        end = min(self.remote.size, offset + min(size, MAX_BLOCK)) - 1
        attempt = 0
        while True:
            self.hub.refuse_if_offline(self.remote.label)
            # Rebuilt every try: after a refresh the location may be a CDN host, which gets no token.
            headers = {"Range": f"bytes={offset}-{end}", "Accept-Encoding": "identity",
                       **self.hub.auth_headers(self.location)}
            try:
                return self._get(headers, offset, end)
            except (httpx2.TransportError, httpx2.HTTPStatusError) as exc:
                attempt += 1
                retry_after = retryable(exc)
                if retry_after is None or self.hub.retry.gives_up(attempt):
                    raise translate_hub_error(exc, what=_("the header of '{label}'").format(label=self.remote.label),
                                              endpoint=self.hub.endpoint) from exc
                self.hub._sleep(self.hub.retry.delay(attempt, retry_after_s=retry_after or None))
                self.location = self.hub.refresh(self.remote).location or self.remote.url

    def _get(self, headers: dict[str, str], offset: int, end: int) -> bytes:
        self.requests += 1
        with self.client.stream("GET", self.location, headers=headers) as r:
            if r.status_code >= 400:
                r.read()
                r.raise_for_status()
            if r.status_code == 206:
                m = re.match(r"bytes (\d+)-", r.headers.get("content-range", ""))
                if not m or int(m.group(1)) != offset:
                    raise DownloadFailed(_("The server sent the wrong part of the file while Lantern read its header."),
                                         hint=_("Try again later."))
                data = r.read()
                self.bytes_read += len(data)
                return data
            # 200: the server ignored Range. Take what we need and hang up, never the whole file.
            want = end + 1
            buf = bytearray()
            for chunk in r.iter_raw(1 << 20):
                buf += chunk
                self.bytes_read += len(chunk)
                if len(buf) >= want:
                    break
            return bytes(buf[offset:want])


def read_remote_gguf_header(hub: HubClient, client: httpx2.Client, remote: RemoteFile) -> tuple[GgufHeader, int]:
    """The parsed header and how many bytes it cost to read it."""
    reader = RemoteRangeReader(hub, client, remote)
    header = parse_gguf_header(reader, file_size=remote.size, source=remote.label)
    return header, reader.bytes_read
