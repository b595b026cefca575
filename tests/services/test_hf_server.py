"""Self-tests of the fake Hugging Face hub (tests/support/hf_server.py), through real clients only:
huggingface_hub 2.x and its HTTP client httpx2, over real sockets on 127.0.0.1."""

from __future__ import annotations

import hashlib
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx2
import huggingface_hub as hh
import pytest
from huggingface_hub import errors as hf_errors

from tests.support.hf_server import FakeHub

ROOT = Path(__file__).resolve().parents[2]
REPO = "lantern-test/tiny-model"
BIG = bytes(range(256)) * 200  # 51,200 bytes: LFS by size
SMALL = b'{"architectures": ["LlamaForCausalLM"]}\n'


@pytest.fixture
def hf_env(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_DISABLE_XET", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    return tmp_path


@pytest.fixture
def http():
    with httpx2.Client() as client:
        yield client


def server_threads(hub: FakeHub) -> list[threading.Thread]:
    """This hub's accept and connection threads still alive (other hubs, e.g. session-wide ones, are ignored)."""
    return [t for t in threading.enumerate() if t.name.split(" ")[0] == f"FakeHub:{hub.port}"]


@pytest.fixture
def hub(hf_env):
    with FakeHub() as h:
        yield h
        assert h.errors == []
    assert server_threads(h) == []  # stop() joined the accept thread and every connection thread


def metadata(hub: FakeHub, repo: str, filename: str, *, revision: str = "main", token: str | bool = False):
    url = hh.hf_hub_url(repo, filename, revision=revision, endpoint=hub.endpoint)
    return hh.get_hf_file_metadata(url, token=token, endpoint=hub.endpoint)


def test_lfs_file_metadata_comes_from_the_redirect_to_the_cdn_host(hub):
    info = hub.add_file(REPO, "model.gguf", BIG)
    assert info.lfs and info.sha256 == hashlib.sha256(BIG).hexdigest()
    assert info.git_sha1 == hashlib.sha1(b"blob %d\0" % len(BIG) + BIG).hexdigest()
    assert re.fullmatch(r"[0-9a-f]{40}", info.commit)

    meta = metadata(hub, REPO, "model.gguf")

    assert meta.commit_hash == info.commit == hub.commit_sha(REPO)
    assert meta.etag == info.sha256 == info.etag
    assert meta.size == len(BIG)
    assert meta.location.startswith(f"http://localhost:{hub.port}/cdn/{info.sha256}?")
    assert "sig=" in meta.location
    [head] = hub.requests
    assert (head.method, head.status, head.kind) == ("HEAD", 302, "resolve")
    assert hub.bytes_sent() == 0


def test_small_file_is_served_by_resolve_with_its_git_sha1_as_etag(hub, http):
    info = hub.add_file(REPO, "config.json", SMALL)
    assert not info.lfs

    meta = metadata(hub, REPO, "config.json")
    assert meta.etag == info.git_sha1 and meta.size == len(SMALL) and meta.commit_hash == info.commit
    assert meta.location == hub.url(REPO, "config.json")

    r = http.get(hub.url(REPO, "config.json"))
    assert r.status_code == 200 and r.content == SMALL
    assert r.headers["ETag"] == f'"{info.git_sha1}"' and r.headers["X-Repo-Commit"] == info.commit
    assert hub.bytes_sent("config.json") == len(SMALL)


def test_hf_hub_download_fetches_a_gated_lfs_file_and_keeps_the_token_off_the_cdn(hub, hf_env):
    hub.add_repo(REPO, gated_token="hf_secret")
    info = hub.add_file(REPO, "weights/model.safetensors", BIG)

    path = hh.hf_hub_download(REPO, "weights/model.safetensors", endpoint=hub.endpoint,
                              cache_dir=hf_env / "cache", token="hf_secret")

    assert Path(path).read_bytes() == BIG
    assert info.commit in path
    resolve = [r for r in hub.requests if r.kind == "resolve"]
    cdn = [r for r in hub.requests if r.kind == "cdn"]
    assert resolve and all(r.authorization == "Bearer hf_secret" for r in resolve)
    assert len(cdn) == 1 and cdn[0].authorization is None and cdn[0].headers["Host"] == f"localhost:{hub.port}"
    assert "sig=" in cdn[0].query
    assert hub.bytes_sent(info.sha256) == hub.bytes_sent() == len(BIG)


def test_model_info_and_tree_parse_with_files_metadata(hub):
    first = hub.add_file(REPO, "config.json", SMALL)
    big = hub.add_file(REPO, "sub/dir/model.gguf", BIG)
    api = hh.HfApi(endpoint=hub.endpoint, token=False)

    info = api.model_info(REPO, files_metadata=True)
    assert info.id == REPO and info.sha == big.commit and info.gated is False and info.private is False
    siblings = {s.rfilename: s for s in info.siblings}
    assert set(siblings) == {"config.json", "sub/dir/model.gguf"}
    lfs = siblings["sub/dir/model.gguf"]
    assert lfs.size == len(BIG) and lfs.lfs.sha256 == big.sha256 and lfs.lfs.size == len(BIG)
    assert lfs.blob_id == big.blob_id and lfs.lfs.pointer_size == big.pointer_size
    assert siblings["config.json"].blob_id == first.git_sha1 and siblings["config.json"].lfs is None

    old = api.model_info(REPO, revision=first.commit, files_metadata=True)
    assert old.sha == first.commit and [s.rfilename for s in old.siblings] == ["config.json"]
    bare = api.model_info(REPO)
    assert bare.siblings[0].size is None

    tree = list(api.list_repo_tree(REPO, recursive=True))
    assert {t.path for t in tree} == {"config.json", "sub", "sub/dir", "sub/dir/model.gguf"}
    top = list(api.list_repo_tree(REPO))
    assert {t.path for t in top} == {"config.json", "sub"}
    [gguf] = api.list_repo_tree(REPO, path_in_repo="sub/dir")
    assert gguf.lfs.sha256 == big.sha256 and gguf.size == len(BIG)


def test_gated_repo_needs_the_token_everywhere(hub, http):
    hub.add_repo(REPO, gated_token="hf_secret")
    info = hub.add_file(REPO, "model.gguf", BIG)

    with pytest.raises(hf_errors.GatedRepoError):
        metadata(hub, REPO, "model.gguf")
    with pytest.raises(hf_errors.GatedRepoError):
        metadata(hub, REPO, "model.gguf", token="hf_wrong")
    with pytest.raises(hf_errors.GatedRepoError):
        hh.HfApi(endpoint=hub.endpoint, token=False).model_info(REPO)

    meta = metadata(hub, REPO, "model.gguf", token="hf_secret")
    assert meta.etag == info.sha256
    assert hh.HfApi(endpoint=hub.endpoint, token="hf_secret").model_info(REPO).gated == "auto"

    unsigned = f"{hub.cdn_base}/{info.sha256}"
    r = http.get(unsigned)
    assert r.status_code == 401 and r.headers["X-Error-Code"] == "GatedRepo"
    assert http.get(unsigned, headers={"Authorization": "Bearer hf_secret"}).content == BIG
    assert http.get(meta.location).content == BIG  # the signature is the credential on the CDN

    hub.expire_cdn_urls()
    assert http.get(meta.location).status_code == 403

    hub.add_repo(REPO, gated_token="hf_secret", gate_api=False)  # like the real hub: listings stay public
    assert hh.HfApi(endpoint=hub.endpoint, token=False).model_info(REPO).sha == info.commit


def test_missing_repo_file_and_revision_raise_huggingface_hub_errors(hub):
    info = hub.add_file(REPO, "model.gguf", BIG)
    api = hh.HfApi(endpoint=hub.endpoint, token=False)

    with pytest.raises(hf_errors.RepositoryNotFoundError):
        metadata(hub, "nobody/nothing", "model.gguf")
    with pytest.raises(hf_errors.RepositoryNotFoundError):
        api.model_info("nobody/nothing")
    with pytest.raises(hf_errors.RemoteEntryNotFoundError) as missing:
        metadata(hub, REPO, "nope.gguf")
    assert missing.value.response.headers["X-Repo-Commit"] == info.commit
    with pytest.raises(hf_errors.RevisionNotFoundError):
        metadata(hub, REPO, "model.gguf", revision="no-such-branch")
    with pytest.raises(hf_errors.RevisionNotFoundError):
        metadata(hub, REPO, "model.gguf", revision="0" * 40)
    with pytest.raises(hf_errors.RevisionNotFoundError):
        api.model_info(REPO, revision="refs/pr/1")


def test_renamed_repo_redirects_with_a_relative_location(hub, http):
    info = hub.add_file("new-org/model", "model.gguf", BIG)
    hub.add_alias("old-org/model", "new-org/model")

    meta = metadata(hub, "old-org/model", "model.gguf")
    assert meta.commit_hash == info.commit and meta.etag == info.sha256
    first = hub.requests[0]
    assert first.status == 307 and first.path == "/old-org/model/resolve/main/model.gguf"
    r = http.head(hub.url("old-org/model", "model.gguf"))
    assert r.headers["Location"] == "/new-org/model/resolve/main/model.gguf"

    assert hh.HfApi(endpoint=hub.endpoint, token=False).model_info("old-org/model").id == "new-org/model"


def test_cdn_ranges_if_range_and_ignore_range(hub):
    info = hub.add_file(REPO, "model.gguf", BIG)
    url = hub.cdn_url(REPO, "model.gguf")
    total = len(BIG)
    with httpx2.Client() as client:
        full = client.get(url)
        assert full.status_code == 200 and full.content == BIG
        assert full.headers["Accept-Ranges"] == "bytes" and full.headers["ETag"] == f'"{info.sha256}"'

        r = client.get(url, headers={"Range": "bytes=1000-"})
        assert r.status_code == 206 and r.content == BIG[1000:]
        assert r.headers["Content-Range"] == f"bytes 1000-{total - 1}/{total}"
        r = client.get(url, headers={"Range": "bytes=10-19"})
        assert (r.status_code, r.content, r.headers["Content-Length"]) == (206, BIG[10:20], "10")
        r = client.get(url, headers={"Range": "bytes=-5"})
        assert r.content == BIG[-5:]
        r = client.get(url, headers={"Range": f"bytes={total}-"})
        assert r.status_code == 416 and r.headers["Content-Range"] == f"bytes */{total}"

        r = client.get(url, headers={"Range": "bytes=1000-", "If-Range": f'"{info.sha256}"'})
        assert r.status_code == 206
        r = client.get(url, headers={"Range": "bytes=1000-", "If-Range": '"stale-etag"'})
        assert r.status_code == 200 and r.content == BIG

        fault = hub.ignore_range()
        r = client.get(url, headers={"Range": "bytes=1000-"})
        assert r.status_code == 200 and r.content == BIG and fault.hits == 1
        assert client.get(url, headers={"Range": "bytes=1000-"}).status_code == 206

        head = client.head(url, headers={"Range": "bytes=100-"})
        assert head.status_code == 206 and head.headers["Content-Length"] == str(total - 100)
    assert hub.requests[-1].body_bytes == 0


def test_drop_after_cuts_the_body_and_a_range_request_resumes(hub, http):
    info = hub.add_file(REPO, "model.gguf", BIG)
    url = hub.cdn_url(REPO, "model.gguf")
    hub.drop_after(20_000)

    received = bytearray()
    with pytest.raises(httpx2.RemoteProtocolError), httpx2.stream("GET", url) as r:
        for chunk in r.iter_bytes():
            received += chunk
    assert bytes(received) == BIG[:20_000]
    assert hub.bytes_sent() == hub.bytes_sent(info.sha256) == 20_000
    dropped = hub.requests[-1]
    assert dropped.aborted and dropped.body_bytes == 20_000 and dropped.faults == ["drop_after:20000"]

    rest = http.get(url, headers={"Range": f"bytes={len(received)}-"})
    assert rest.status_code == 206 and bytes(received) + rest.content == BIG
    assert hub.bytes_sent("model.gguf") == len(BIG)  # nothing sent twice
    assert hub.requests[-1].range == "bytes=20000-"

    hub.reset_stats()
    assert hub.bytes_sent() == 0 and hub.requests == []


def test_corrupt_byte_flips_exactly_one_byte(hub, http):
    info = hub.add_file(REPO, "model.gguf", BIG)
    url = hub.cdn_url(REPO, "model.gguf")
    hub.corrupt_byte(12_345, times=2)

    body = http.get(url).content
    diff = [i for i in range(len(BIG)) if body[i] != BIG[i]]
    assert diff == [12_345] and body[12_345] == BIG[12_345] ^ 0xFF
    assert hashlib.sha256(body).hexdigest() != info.sha256

    assert http.get(url, headers={"Range": "bytes=20000-"}).content == BIG[20_000:]  # offset not in range: unused
    part = http.get(url, headers={"Range": "bytes=12000-12999"}).content
    assert part[345] == BIG[12_345] ^ 0xFF and part[:345] == BIG[12_000:12_345]
    assert http.get(url).content == BIG  # used up
    assert metadata(hub, REPO, "model.gguf").etag == info.sha256


def test_replaced_file_gets_a_new_commit_and_old_commits_keep_their_bytes(hub, hf_env):
    v1 = hub.add_file(REPO, "model.gguf", BIG)
    new = BIG[::-1]
    v2 = hub.replace_file(REPO, "model.gguf", new)
    assert v2.commit != v1.commit and v2.sha256 != v1.sha256

    assert metadata(hub, REPO, "model.gguf").etag == v2.sha256
    assert metadata(hub, REPO, "model.gguf", revision=v1.commit).etag == v1.sha256
    old = hh.hf_hub_download(REPO, "model.gguf", revision=v1.commit, endpoint=hub.endpoint,
                             cache_dir=hf_env / "cache", token=False)
    latest = hh.hf_hub_download(REPO, "model.gguf", endpoint=hub.endpoint, cache_dir=hf_env / "cache", token=False)
    assert Path(old).read_bytes() == BIG and Path(latest).read_bytes() == new
    assert hub.bytes_sent("model.gguf") == 2 * len(BIG)

    with FakeHub() as other:  # commit shas are a function of the repo's history
        assert other.add_file(REPO, "model.gguf", BIG).commit == v1.commit
        assert other.replace_file(REPO, "model.gguf", new).commit == v2.commit


def test_injected_failures_are_consumed_in_order(hub, http):
    hub.add_file(REPO, "model.gguf", BIG)
    hub.add_file(REPO, "config.json", SMALL)
    hub.fail("resolve", 503, retry_after=2)
    hub.fail("resolve", 429, times=2, path_contains="config.json")
    cdn_fault = hub.fail("cdn", 500)

    with pytest.raises(hf_errors.HfHubHTTPError) as e503:
        metadata(hub, REPO, "config.json")
    assert e503.value.response.status_code == 503 and e503.value.response.headers["Retry-After"] == "2"
    assert metadata(hub, REPO, "model.gguf").etag  # the 429s only match config.json
    statuses = [http.head(hub.url(REPO, "config.json")).status_code for _ in range(3)]
    assert statuses == [429, 429, 200]

    url = hub.cdn_url(REPO, "model.gguf")
    assert http.get(url).status_code == 500 and cdn_fault.hits == 1
    assert http.get(url).content == BIG
    assert hub.faults == []

    hub.fail("api", 404, error_code="RepoNotFound", times=None)
    for _ in range(2):
        with pytest.raises(hf_errors.RepositoryNotFoundError):
            hh.HfApi(endpoint=hub.endpoint, token=False).model_info(REPO)
    hub.clear_faults()
    assert hh.HfApi(endpoint=hub.endpoint, token=False).model_info(REPO).id == REPO


def test_stall_trips_the_client_timeout_and_shutdown_does_not_wait_for_it(hf_env):
    hub = FakeHub().start()
    try:
        hub.add_file(REPO, "model.gguf", BIG)
        hub.stall_after(5_000, seconds=60)
        received = bytearray()
        with pytest.raises(httpx2.ReadTimeout), httpx2.stream(
                "GET", hub.cdn_url(REPO, "model.gguf"), timeout=httpx2.Timeout(5, read=0.3)) as r:
            for chunk in r.iter_bytes():
                received += chunk
        assert bytes(received) == BIG[:5_000]
        assert not hub.wait_idle(timeout=0.05)  # the server side is still stalled
    finally:
        started = time.monotonic()
        hub.stop()
        assert time.monotonic() - started < 2
    assert hub.wait_idle(timeout=0) and hub.requests[-1].done
    assert hub.bytes_sent() == 5_000


def test_throttled_transfer_is_paced_and_stop_cuts_it_mid_body(hf_env, tmp_path):
    data = os.urandom(3 * 1024 * 1024)
    big = tmp_path / "model.gguf"
    big.write_bytes(data)
    hub = FakeHub().start()
    try:
        info = hub.add_file(REPO, "model.gguf", big)  # streamed from disk
        assert info.sha256 == hashlib.sha256(data).hexdigest()
        assert httpx2.get(hub.cdn_url(REPO, "model.gguf")).content == data  # sendfile path
        assert hub.bytes_sent(big.name) == len(data)

        hub.throttle(1_000_000)
        client = httpx2.Client(timeout=5)
        response = client.send(client.build_request("GET", hub.cdn_url(REPO, "model.gguf")), stream=True)
        started = time.monotonic()
        chunks = response.iter_raw(64 * 1024)
        got = 0
        while got < 150_000:
            got += len(next(chunks))
        assert time.monotonic() - started > 0.1  # ~1 MB/s
    finally:
        started = time.monotonic()
        hub.stop()
        assert time.monotonic() - started < 2
    with pytest.raises((httpx2.RemoteProtocolError, httpx2.ReadError)):
        for _ in chunks:
            pass
    response.close()
    client.close()
    assert len(data) + 150_000 <= hub.bytes_sent() < 2 * len(data)
    assert server_threads(hub) == []


@pytest.mark.skipif(sys.platform == "win32", reason="uses SIGINT")
def test_standalone_server_serves_a_file_until_interrupted(tmp_path):
    payload = os.urandom(200_000)
    src = tmp_path / "blob.bin"
    src.write_bytes(payload)
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.support.hf_server", "--file", REPO, "model.gguf", str(src)],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        endpoint = proc.stdout.readline().split()[-1]
        assert endpoint.startswith("http://127.0.0.1:")
        assert proc.stdout.readline().startswith(f"file {endpoint}/{REPO}/resolve/main/model.gguf")
        cdn = proc.stdout.readline().split()[-1]
        assert httpx2.get(f"{endpoint}/{REPO}/resolve/main/model.gguf", follow_redirects=True).content == payload
        assert httpx2.get(cdn).content == payload
    finally:
        proc.send_signal(signal.SIGINT)
        _out, err = proc.communicate(timeout=10)
    assert proc.returncode == 0, err


def test_restart_serves_the_same_content_on_the_same_port(hf_env):
    hub = FakeHub().start()
    try:
        info = hub.add_file(REPO, "model.gguf", BIG)
        with httpx2.Client() as client:
            assert client.get(hub.cdn_url(REPO, "model.gguf")).content == BIG  # leaves a keep-alive connection
            endpoint = hub.endpoint
            hub.stop()
            with pytest.raises(httpx2.TransportError):
                client.get(hub.url(REPO, "model.gguf"))
            hub.start()
            assert hub.endpoint == endpoint
            assert metadata(hub, REPO, "model.gguf").etag == info.sha256
    finally:
        hub.stop()
    assert server_threads(hub) == []
