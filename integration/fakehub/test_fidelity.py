"""Fidelity tests: the official huggingface_hub client must work against the fake Hub.

Each client call runs in its own process (hf_client.py) because huggingface_hub reads
HF_ENDPOINT at import time. Raw HTTP checks use http.client without following redirects.
"""

import hashlib
import http.client
import json
import os
import shutil
import subprocess
import sys
import time
import zlib
from urllib.parse import urlsplit

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import fakehub  # noqa: E402
import hubdata  # noqa: E402
import make_repo  # noqa: E402

GOOD_TOKEN = "hf_good_token_123"
BAD_TOKEN = "hf_not_allowed_456"

PUBLIC_FILES = {
    ".gitattributes": "*.safetensors filter=lfs diff=lfs merge=lfs -text\n",
    "README.md": "# test model\n",
    "config.json": json.dumps({"hidden_size": 8}),
    "model.safetensors": {"random": 3000, "seed": 1},  # LFS by suffix and size
    "weights/big.dat": {"random": 5000, "seed": 2},  # LFS by size only
    "tokenizer/vocab.txt": "a\nb\nc\n",
    "nested/deep/er/file.txt": "deep\n",
    "empty.txt": "",
}
LARGE_FILE = {"random": 11 * 1024 * 1024, "seed": 5}
GENERATED = {"size": 3 * 1024 * 1024 + 17, "seed": 9}


# --- fixtures ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def repos(tmp_path_factory):
    root = str(tmp_path_factory.mktemp("repos"))
    shas = {}
    shas["v1"] = make_repo.create_repo(root, "org/model", {**PUBLIC_FILES, "config.json": '{"v": 1}'})
    shas["main"] = make_repo.add_commit(root, "org/model", {"config.json": PUBLIC_FILES["config.json"]})
    make_repo.set_ref(root, "org/model", "v1.0", shas["v1"], tag=True)
    shas["pr"] = make_repo.add_commit(root, "org/model", {"pr-only.txt": "from the PR\n"},
                                      branch="refs/pr/1", parent="main")
    many = {f"dir{i % 3}/file{i}.txt": f"file {i}\n" for i in range(10)}
    make_repo.create_repo(root, "org/many", many, config={"page_size": 3})
    gated = {"config.json": "{}", "model.safetensors": {"random": 2048, "seed": 3}}
    make_repo.create_repo(root, "org/gated", gated, config={"gated": "manual", "tokens": [GOOD_TOKEN]})
    make_repo.create_repo(root, "org/private", {"a.txt": "secret\n"}, config={"private": True, "tokens": [GOOD_TOKEN]})
    make_repo.create_repo(root, "org/data", {"train/part-0.jsonl": '{"x": 1}\n', "big.parquet": {"random": 4096}},
                          kind="datasets")
    make_repo.create_repo(root, "org/large", {"large.bin": LARGE_FILE})
    make_repo.create_repo(root, "org/gzip", {"vocab.json": json.dumps({f"tok{i}": i for i in range(50)})},
                          config={"compress": True})
    make_repo.create_repo(root, "org/gated-meta", {"a.txt": "x"},
                          config={"gated": "auto", "gate_metadata": True, "tokens": [GOOD_TOKEN]})
    make_repo.create_repo(root, "org/generated", {"w.safetensors": "placeholder", "small.txt": "small\n"},
                          config={"generated": {"w.safetensors": GENERATED}})
    make_repo.create_repo(root, "org/corrupt", {"w.safetensors": {"random": 2000, "seed": 4}, "c.txt": "clean\n"},
                          config={"corrupt": ["w.safetensors", "c.txt"]})
    return root, shas


PLAIN_FILES = {"m.gguf": os.urandom(3000), "dir/with space.bin": b"spaced\n"}


@pytest.fixture(scope="module")
def files_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("files")
    for rel, data in PLAIN_FILES.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(data)
    return str(root)


@pytest.fixture(scope="module")
def hub(repos, files_dir):
    server = fakehub.start(repos[0], files_dir=files_dir)
    yield server
    server.stop()


@pytest.fixture(autouse=True)
def clean_controls(hub):
    hub.reset()
    hub.reset_stats()


@pytest.fixture
def client(hub, tmp_path):
    """Run one huggingface_hub op in a subprocess pointed at the fake Hub."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "HUGGING_FACE_"))}
    env.update({
        "HF_ENDPOINT": hub.endpoint,
        "HF_HOME": str(tmp_path / "hf_home"),
        "HF_HUB_DISABLE_TELEMETRY": "1",
        "HF_HUB_DISABLE_XET": "1",
        "HF_HUB_DISABLE_PROGRESS_BARS": "1",
        "HF_HUB_DISABLE_IMPLICIT_TOKEN": "1",
        "NO_PROXY": "127.0.0.1,localhost",
        "no_proxy": "127.0.0.1,localhost",
    })

    def run(op, **kwargs):
        proc = subprocess.run(
            [sys.executable, os.path.join(HERE, "hf_client.py"), json.dumps({"op": op, "kwargs": kwargs})],
            env=env, capture_output=True, text=True, timeout=120,
        )
        assert proc.returncode == 0, proc.stderr
        return json.loads(proc.stdout.strip().splitlines()[-1])

    return run


def ok(outcome):
    assert "ok" in outcome, outcome.get("error")
    return outcome["ok"]


def error_of(outcome):
    assert "error" in outcome, f"expected an error, got {outcome['ok']!r}"
    return outcome["error"]


def tree_files(root):
    """{relative path: bytes} of a directory, skipping huggingface_hub's own metadata."""
    found = {}
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if d != ".cache"]
        for name in filenames:
            path = os.path.join(dirpath, name)
            with open(path, "rb") as f:
                found[os.path.relpath(path, root).replace(os.sep, "/")] = f.read()
    return found


def commit_tree(repos, repo_id, sha, kind="models"):
    return tree_files(os.path.join(hubdata.repo_dir(repos[0], kind, repo_id), "commits", sha))


def raw(method, url, headers=None, body=None):
    """One HTTP request, redirects not followed: (status, headers, body)."""
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    target = parts.path + (f"?{parts.query}" if parts.query else "")
    conn.request(method, target, body=body, headers=headers or {})
    resp = conn.getresponse()
    body = resp.read()
    conn.close()
    return resp.status, resp.headers, body


# --- the official client ---------------------------------------------------------------------


def test_client_version_is_pinned(client):
    pinned = open(os.path.join(HERE, "requirements.txt")).read()
    assert f"huggingface_hub=={ok(client('version'))}" in pinned


def test_snapshot_download_matches_source(client, hub, repos):
    folder = ok(client("snapshot_download", repo_id="org/model"))
    assert tree_files(folder) == commit_tree(repos, "org/model", repos[1]["main"])
    assert os.path.basename(folder) == repos[1]["main"]
    counts = hub.stats()["counts"]
    # LFS files come from the CDN, regular ones through the relative 307 to resolve-cache.
    big = hashlib.sha256(make_repo.content_bytes(PUBLIC_FILES["weights/big.dat"])).hexdigest()
    assert counts.get(f"cdn:{big}") == 1
    assert counts.get("resolve-cache:org/model:config.json", 0) >= 1
    assert not any(r["auth"] for r in hub.stats()["requests"])


def test_snapshot_download_to_local_dir(client, repos, tmp_path):
    folder = ok(client("snapshot_download", repo_id="org/model", local_dir=str(tmp_path / "out")))
    assert tree_files(folder) == commit_tree(repos, "org/model", repos[1]["main"])


def test_hf_hub_download_at_pinned_commit_and_tag(client, repos):
    old = ok(client("hf_hub_download", repo_id="org/model", filename="config.json", revision=repos[1]["v1"]))
    assert open(old).read() == '{"v": 1}'
    tagged = ok(client("hf_hub_download", repo_id="org/model", filename="config.json", revision="v1.0"))
    assert open(tagged).read() == '{"v": 1}'
    current = ok(client("hf_hub_download", repo_id="org/model", filename="config.json"))
    assert open(current).read() == PUBLIC_FILES["config.json"]


def test_hf_hub_download_pr_revision(client, repos):
    path = ok(client("hf_hub_download", repo_id="org/model", filename="pr-only.txt", revision="refs/pr/1"))
    assert open(path).read() == "from the PR\n"
    assert repos[1]["pr"] in path
    missing = error_of(client("hf_hub_download", repo_id="org/model", filename="pr-only.txt"))
    assert "EntryNotFoundError" in missing["mro"]


def test_snapshot_download_pr_revision(client, repos):
    folder = ok(client("snapshot_download", repo_id="org/model", revision="refs/pr/1"))
    assert tree_files(folder) == commit_tree(repos, "org/model", repos[1]["pr"])


def test_list_repo_tree_follows_link_pagination(client, hub, repos):
    entries = ok(client("list_repo_tree", repo_id="org/many", recursive=True))
    sha = hubdata.load_repo(repos[0], "models", "org", "many", hubdata.HashCache()).resolve("main")
    expected_files = set(commit_tree(repos, "org/many", sha))
    assert {e["path"] for e in entries if e["type"] == "file"} == expected_files
    assert {e["path"] for e in entries if e["type"] == "directory"} == {"dir0", "dir1", "dir2"}
    assert len(entries) == 13
    tree_requests = [r for r in hub.stats()["requests"] if "/tree/" in r["path"]]
    assert len(tree_requests) == 5  # 13 entries, 3 per page
    assert sum("cursor=" in r["query"] for r in tree_requests) == 4


def test_list_repo_tree_subfolder_not_recursive(client):
    entries = ok(client("list_repo_tree", repo_id="org/model", path_in_repo="nested/deep"))
    assert [(e["type"], e["path"]) for e in entries] == [("directory", "nested/deep/er")]
    missing = error_of(client("list_repo_tree", repo_id="org/model", path_in_repo="no/such/dir"))
    assert "EntryNotFoundError" in missing["mro"]


def test_model_info_files_metadata(client, repos):
    info = ok(client("model_info", repo_id="org/model", files_metadata=True))
    assert info["sha"] == repos[1]["main"]
    source = commit_tree(repos, "org/model", repos[1]["main"])
    siblings = {s["rfilename"]: s for s in info["siblings"]}
    assert set(siblings) == set(source)
    for path, data in source.items():
        sib = siblings[path]
        assert sib["size"] == len(data)
        if hubdata.is_lfs(path, len(data)):
            assert sib["lfs"] == {"sha256": hashlib.sha256(data).hexdigest(), "size": len(data),
                                  "pointer_size": len(hubdata.lfs_pointer(hashlib.sha256(data).hexdigest(),
                                                                          len(data)))}
        else:
            assert sib["lfs"] is None
            assert sib["blob_id"] == hubdata.git_blob_sha1(data)
    assert siblings["model.safetensors"]["lfs"] and siblings["weights/big.dat"]["lfs"]


def test_dataset_repo(client, repos):
    info = ok(client("dataset_info", repo_id="org/data"))
    assert {s["rfilename"] for s in info["siblings"]} == {"train/part-0.jsonl", "big.parquet"}
    folder = ok(client("snapshot_download", repo_id="org/data", repo_type="dataset"))
    assert tree_files(folder) == commit_tree(repos, "org/data", info["sha"], kind="datasets")


def test_gated_repo_without_token(client):
    err = error_of(client("snapshot_download", repo_id="org/gated"))
    assert err["type"] == "GatedRepoError" and err["status"] == 401
    err = error_of(client("hf_hub_download", repo_id="org/gated", filename="config.json"))
    assert err["type"] == "GatedRepoError" and err["status"] == 401
    # As on the Hub, the metadata of a gated repo stays public.
    assert ok(client("model_info", repo_id="org/gated"))["gated"] == "manual"


def test_gated_metadata_option(client):
    err = error_of(client("model_info", repo_id="org/gated-meta"))
    assert err["type"] == "GatedRepoError" and err["status"] == 401
    assert ok(client("model_info", repo_id="org/gated-meta", token=GOOD_TOKEN))["gated"] == "auto"


def test_gzip_text_without_content_length(client, hub, repos):
    path = ok(client("hf_hub_download", repo_id="org/gzip", filename="vocab.json"))
    sha = hubdata.load_repo(repos[0], "models", "org", "gzip", hubdata.HashCache()).resolve("main")
    assert open(path, "rb").read() == commit_tree(repos, "org/gzip", sha)["vocab.json"]
    target = [r["path"] for r in hub.stats()["requests"] if "resolve-cache" in r["path"]][0]
    status, headers, body = raw("GET", hub.endpoint + target, {"Accept-Encoding": "gzip"})
    assert status == 200 and headers["Content-Encoding"] == "gzip" and "Content-Length" not in headers
    assert headers["Transfer-Encoding"] == "chunked"


def test_gated_repo_with_wrong_token(client):
    err = error_of(client("hf_hub_download", repo_id="org/gated", filename="config.json", token=BAD_TOKEN))
    assert err["type"] == "GatedRepoError" and err["status"] == 403


def test_gated_repo_with_good_token(client, hub, repos):
    folder = ok(client("snapshot_download", repo_id="org/gated", token=GOOD_TOKEN))
    sha = hubdata.load_repo(repos[0], "models", "org", "gated", hubdata.HashCache()).resolve("main")
    assert tree_files(folder) == commit_tree(repos, "org/gated", sha)
    requests = hub.stats()["requests"]
    assert all(r["auth"] for r in requests if r["port"] == "hub")
    assert not any(r["auth"] for r in requests if r["port"] == "cdn")  # auth never leaves the Hub
    assert GOOD_TOKEN not in json.dumps(hub.stats())


def test_private_repo(client, repos):
    err = error_of(client("hf_hub_download", repo_id="org/private", filename="a.txt"))
    assert err["type"] == "RepositoryNotFoundError" and err["status"] == 401
    err = error_of(client("hf_hub_download", repo_id="org/private", filename="a.txt", token=BAD_TOKEN))
    assert err["type"] == "RepositoryNotFoundError" and err["status"] == 404
    path = ok(client("hf_hub_download", repo_id="org/private", filename="a.txt", token=GOOD_TOKEN))
    assert open(path).read() == "secret\n"


def test_missing_repo(client):
    for op, kwargs in (("snapshot_download", {}), ("hf_hub_download", {"filename": "x"}), ("model_info", {})):
        err = error_of(client(op, repo_id="org/does-not-exist", **kwargs))
        assert err["type"] == "RepositoryNotFoundError", (op, err)


def test_bad_revision(client):
    for op, kwargs in (("snapshot_download", {}), ("hf_hub_download", {"filename": "config.json"}),
                       ("model_info", {})):
        err = error_of(client(op, repo_id="org/model", revision="no-such-branch", **kwargs))
        assert err["type"] == "RevisionNotFoundError", (op, err)


def test_missing_file(client):
    err = error_of(client("hf_hub_download", repo_id="org/model", filename="nope.bin"))
    assert "EntryNotFoundError" in err["mro"] and err["status"] == 404


def test_rate_limited_cdn_is_retried(client, hub):
    hub.fail("/lfs/", status=429, count=1, port="cdn", retry_after=0)
    path = ok(client("hf_hub_download", repo_id="org/model", filename="model.safetensors"))
    assert open(path, "rb").read() == make_repo.content_bytes(PUBLIC_FILES["model.safetensors"])
    cdn = [r["status"] for r in hub.stats()["requests"] if r["port"] == "cdn"]
    assert cdn == [429, 200]


def test_truncated_download_resumes_with_range(client, hub, repos):
    # huggingface_hub keeps only whole 10 MiB chunks, so break off after the first one.
    chunk = 10 * 1024 * 1024
    hub.fail("/lfs/", count=1, port="cdn", truncate_after=chunk + 1000)
    path = ok(client("hf_hub_download", repo_id="org/large", filename="large.bin"))
    assert open(path, "rb").read() == make_repo.content_bytes(LARGE_FILE)
    cdn = [(r["status"], r["range"]) for r in hub.stats()["requests"] if r["port"] == "cdn"]
    assert cdn == [(200, None), (206, f"bytes={chunk}-")]


def test_corrupt_files_keep_size_but_not_content(client, repos):
    # huggingface_hub checks sizes only, so it accepts the corrupt bytes: a client that
    # verifies sha256 / git sha1 against the listing must reject them.
    for name in ("w.safetensors", "c.txt"):
        path = ok(client("hf_hub_download", repo_id="org/corrupt", filename=name))
        got = open(path, "rb").read()
        sha = hubdata.load_repo(repos[0], "models", "org", "corrupt", hubdata.HashCache()).resolve("main")
        want = commit_tree(repos, "org/corrupt", sha)[name]
        assert len(got) == len(want) and got != want


# --- raw HTTP details that the official client does not exercise -------------------------


def test_resolve_headers_and_cdn(hub, repos):
    data = make_repo.content_bytes(PUBLIC_FILES["model.safetensors"])
    sha256 = hashlib.sha256(data).hexdigest()
    status, headers, _ = raw("HEAD", f"{hub.endpoint}/org/model/resolve/main/model.safetensors")
    assert status == 302
    assert headers["X-Repo-Commit"] == repos[1]["main"]
    assert headers["X-Linked-Etag"] == f'"{sha256}"' and headers["X-Linked-Size"] == str(len(data))
    location = headers["Location"]
    assert location.startswith(hub.cdn + "/")
    status, cdn_headers, body = raw("GET", location)
    assert status == 200 and body == data
    assert "X-Linked-Etag" not in cdn_headers and "X-Repo-Commit" not in cdn_headers
    assert cdn_headers["ETag"].strip('"') != sha256
    status, _, body = raw("GET", location, {"Range": "bytes=10-19"})
    assert status == 206 and body == data[10:20]
    tampered = location.replace("Signature=", "Signature=0")
    assert raw("GET", tampered)[0] == 403
    assert raw("HEAD", f"{hub.endpoint}/org/model/resolve/main/model.safetensors",
               {"If-None-Match": f'"{sha256}"'})[0] == 304


def test_regular_file_redirect_range_and_etag(hub, repos):
    data = PUBLIC_FILES["tokenizer/vocab.txt"].encode()
    url = f"{hub.endpoint}/org/model/resolve/main/tokenizer/vocab.txt"
    status, headers, _ = raw("GET", url)
    assert status == 307 and headers["Location"].startswith("/api/resolve-cache/models/org/model/")
    target = hub.endpoint + headers["Location"]
    status, headers, body = raw("GET", target)
    assert status == 200 and body == data
    assert headers["ETag"] == f'"{hubdata.git_blob_sha1(data)}"'
    assert headers["X-Repo-Commit"] == repos[1]["main"] and headers["Accept-Ranges"] == "bytes"
    status, headers, body = raw("GET", target, {"Range": "bytes=2-"})
    assert status == 206 and body == data[2:] and headers["Content-Range"] == f"bytes 2-{len(data) - 1}/{len(data)}"
    assert raw("GET", target, {"Range": "bytes=100-"})[0] == 416
    assert raw("GET", url, {"If-None-Match": f'"{hubdata.git_blob_sha1(data)}"'})[0] == 304
    status, _, body = raw("GET", f"{hub.endpoint}/org/model/resolve/main/empty.txt")
    assert status == 200 and body == b""


def test_revision_with_slashes_raw_or_encoded(hub, repos):
    for rev in ("refs/pr/1", "refs%2Fpr%2F1"):
        status, headers, _ = raw("HEAD", f"{hub.endpoint}/org/model/resolve/{rev}/pr-only.txt")
        assert status == 307 and headers["X-Repo-Commit"] == repos[1]["pr"], rev
        status, _, body = raw("GET", f"{hub.endpoint}/api/models/org/model/revision/{rev}")
        assert status == 200 and json.loads(body)["sha"] == repos[1]["pr"]
        status, _, body = raw("GET", f"{hub.endpoint}/api/models/org/model/tree/{rev}/nested%2Fdeep?recursive=1")
        assert status == 200 and [e["path"] for e in json.loads(body)] == ["nested/deep/er",
                                                                          "nested/deep/er/file.txt"]


def test_error_headers(hub):
    status, headers, body = raw("GET", f"{hub.endpoint}/org/gated/resolve/main/config.json")
    assert status == 401 and headers["X-Error-Code"] == "GatedRepo"
    assert headers["X-Error-Message"].startswith("Access to model org/gated is restricted. You must have access")
    assert json.loads(body) == {"error": headers["X-Error-Message"]}
    status, headers, _ = raw("GET", f"{hub.endpoint}/org/gated/resolve/main/config.json",
                             {"Authorization": f"Bearer {BAD_TOKEN}"})
    assert status == 403 and "not in the authorized list" in headers["X-Error-Message"]
    status, headers, _ = raw("GET", f"{hub.endpoint}/org/model/resolve/main/missing.txt")
    assert status == 404 and headers["X-Error-Code"] == "EntryNotFound" and headers["X-Repo-Commit"]
    status, headers, _ = raw("GET", f"{hub.endpoint}/api/models/org/model/revision/nope")
    assert status == 404 and headers["X-Error-Code"] == "RevisionNotFound"
    status, headers, _ = raw("GET", f"{hub.endpoint}/api/models/org/nope", {"Authorization": f"Bearer {BAD_TOKEN}"})
    assert status == 404 and headers["X-Error-Code"] == "RepoNotFound"


def test_failure_injection_and_stats_endpoints(hub):
    rule = json.dumps({"path_contains": "config.json", "status": 503, "count": 2})
    assert raw("POST", f"{hub.endpoint}/_fake/fail", {"Content-Type": "application/json"}, rule)[0] == 200
    url = f"{hub.endpoint}/org/model/resolve/main/config.json"
    assert [raw("HEAD", url)[0] for _ in range(3)] == [503, 503, 307]
    hub.fail("config.json", status=429, count=5, retry_after=7)
    status, headers, _ = raw("HEAD", url)
    assert status == 429 and headers["Retry-After"] == "7" and headers["RateLimit"] == '"resolvers";r=0;t=7'
    assert raw("POST", f"{hub.endpoint}/_fake/reset")[0] == 200
    assert raw("HEAD", url)[0] == 307
    status, _, body = raw("GET", f"{hub.endpoint}/_fake/stats")
    stats = json.loads(body)
    assert stats["counts"]["resolve:org/model:config.json"] == 2
    assert [r["status"] for r in stats["requests"]] == [503, 503, 307, 429, 307]
    assert raw("POST", f"{hub.endpoint}/_fake/reset-stats")[0] == 200
    assert json.loads(raw("GET", f"{hub.endpoint}/_fake/stats")[2]) == {"requests": [], "counts": {}}


def test_a_request_is_recorded_before_its_response_is_sent(hub, monkeypatch):
    # A client that has its answer and then resets the stats must find them empty: the
    # request may not be recorded late (it once was, from a `finally` after the response,
    # which let one test's last 404 land in the next test's stats). A slow record() makes
    # that race certain to show if it were back.
    record = hub.state.stats.record
    recorded = []

    def slow_record(entry):
        time.sleep(0.05)
        record(entry)
        recorded.append(entry)

    monkeypatch.setattr(hub.state.stats, "record", slow_record)
    for path in ("/api/models/org/nope", "/org/model/resolve/main/missing.txt", "/api/models/org/model"):
        for method in ("GET", "HEAD"):
            assert raw(method, f"{hub.endpoint}{path}")[0] in (200, 401, 404)
            # Recorded before the response left, so before raw() returned: nothing to wait for.
            assert len(recorded) == 1, f"{method} {path} was recorded late"
            recorded.clear()
            hub.reset_stats()
            assert hub.stats() == {"requests": [], "counts": {}}


def test_cli_writes_state_file(repos, tmp_path):
    state = tmp_path / "state.json"
    proc = subprocess.Popen([sys.executable, os.path.join(HERE, "fakehub.py"), "--repos", repos[0],
                             "--port", "0", "--cdn-port", "0", "--state-file", str(state), "--quiet"])
    try:
        deadline = time.time() + 10
        while not state.exists():
            assert proc.poll() is None, "fakehub exited early"
            assert time.time() < deadline, "no state file"
            time.sleep(0.05)
        info = json.loads(state.read_text())
        assert info["pid"] == proc.pid
        assert info["endpoint"].startswith("http://127.0.0.1:") and info["cdn"].startswith("http://127.0.0.1:")
        status, _, body = raw("GET", f"{info['endpoint']}/api/models/org/model")
        assert status == 200 and json.loads(body)["id"] == "org/model"
    finally:
        proc.terminate()
        assert proc.wait(timeout=10) == 0


def test_cli_exits_when_stdin_closes(repos, tmp_path):
    state = tmp_path / "state.json"
    proc = subprocess.Popen([sys.executable, os.path.join(HERE, "fakehub.py"), "--repos", repos[0],
                             "--state-file", str(state), "--quiet", "--exit-on-stdin-eof"], stdin=subprocess.PIPE)
    try:
        deadline = time.time() + 10
        while not state.exists():
            assert proc.poll() is None, "fakehub exited early"
            assert time.time() < deadline, "no state file"
            time.sleep(0.05)
        assert proc.poll() is None, "fakehub stopped while its stdin was open"
        proc.stdin.close()
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_make_repo_cli(tmp_path):
    root, src = tmp_path / "repos", tmp_path / "src"
    (src / "sub").mkdir(parents=True)
    (src / "sub" / "a.txt").write_text("A")
    (src / "b.gguf").write_bytes(b"GGUF")

    def cli(*args):
        proc = subprocess.run([sys.executable, os.path.join(HERE, "make_repo.py"), "--repos", str(root), *args],
                              capture_output=True, text=True, check=True)
        return json.loads(proc.stdout)

    first = cli("create", "org/cli", "--files-dir", str(src), "--config", '{"page_size": 2}')["commit"]
    second = cli("commit", "org/cli", "--files", '{"sub/a.txt": null, "c.txt": {"text": "C"}}')["commit"]
    cli("--kind", "models", "ref", "org/cli", "refs/pr/7", first)
    cli("ref", "org/cli", "v1", first, "--tag")
    assert cli("config", "org/cli", '{"gated": "auto", "page_size": null}')["config"] == {"gated": "auto"}
    repo = hubdata.load_repo(str(root), "models", "org", "cli", hubdata.HashCache())
    assert repo.resolve("main") == second and repo.resolve("refs/pr/7") == first and repo.resolve("v1") == first
    assert repo.files(first) == ["b.gguf", "sub/a.txt"] and repo.files(second) == ["b.gguf", "c.txt"]
    assert repo.meta(second, "b.gguf").lfs and not repo.meta(second, "c.txt").lfs
    assert repo.commit_date(first) < repo.commit_date(second)
    dataset = cli("--kind", "datasets", "create", "org/ds", "--files", '{"x.csv": "1,2"}')
    assert dataset["kind"] == "datasets"
    assert os.path.isfile(root / "datasets" / "org" / "ds" / "commits" / dataset["commit"] / "x.csv")


# --- the plain file server (for http(s) URL sources) ------------------------------------------


def test_plain_files_are_served_with_a_sha256_etag(hub):
    data = PLAIN_FILES["m.gguf"]
    status, headers, body = raw("GET", f"{hub.endpoint}/files/m.gguf")
    assert (status, body) == (200, data)
    etag = headers["ETag"]
    assert etag == f'"{hashlib.sha256(data).hexdigest()}"'
    assert int(headers["Content-Length"]) == len(data)
    status, _, body = raw("GET", f"{hub.endpoint}/files/m.gguf", {"If-None-Match": etag})
    assert (status, body) == (304, b"")
    status, _, body = raw("GET", f"{hub.endpoint}/files/dir/with%20space.bin")
    assert (status, body) == (200, PLAIN_FILES["dir/with space.bin"])
    assert hub.stats()["counts"]["files:m.gguf"] == 2


def test_plain_files_missing_or_outside_are_404(hub):
    for path in ("nope.bin", "../repos", "%2E%2E/x", "dir"):
        status, _, _ = raw("GET", f"{hub.endpoint}/files/{path}")
        assert status == 404, path


def test_redirect_chain_reaches_the_file(hub):
    url = f"{hub.endpoint}/redirect/3/m.gguf"
    hops = []
    for _ in range(5):
        status, headers, body = raw("GET", url)
        if status != 302:
            break
        hops.append(headers["Location"])
        url = hub.endpoint + headers["Location"]
    assert hops == ["/redirect/2/m.gguf", "/redirect/1/m.gguf", "/files/m.gguf"]
    assert (status, body) == (200, PLAIN_FILES["m.gguf"])
    assert raw("GET", f"{hub.endpoint}/redirect/0/m.gguf")[0] == 400


def test_injected_failures_apply_to_plain_files(hub):
    hub.fail("/files/m.gguf", status=503, count=1)
    assert raw("GET", f"{hub.endpoint}/files/m.gguf")[0] == 503
    assert raw("GET", f"{hub.endpoint}/files/m.gguf")[0] == 200


def test_generated_files_are_listed_and_served_with_their_hashes(hub, client):
    """repo.json "generated": bytes made on the fly, the listing's sha256 and size match them."""
    info = ok(client("model_info", repo_id="org/generated", files_metadata=True))
    entry = next(s for s in info["siblings"] if s["rfilename"] == "w.safetensors")
    path = ok(client("hf_hub_download", repo_id="org/generated", filename="w.safetensors"))
    data = open(path, "rb").read()
    assert len(data) == GENERATED["size"] == entry["size"]
    assert hashlib.sha256(data).hexdigest() == entry["lfs"]["sha256"]
    # Deterministic, not one block repeated, with a readable safetensors header.
    assert data == b"".join(hubdata.generated_chunks("w.safetensors", GENERATED["seed"], GENERATED["size"]))
    block = hubdata.GEN_BLOCK
    assert data[block:2 * block] != data[2 * block:3 * block]
    # Incompressible, as weights nearly are: the bench's zstd and gzip figures mean something.
    # Across a group boundary too (the second group starts at tile 0 again).
    span = list(hubdata.generated_chunks("w.safetensors", GENERATED["seed"], (hubdata.GEN_TILES + 4) * block))
    whole = b"".join(span)
    assert len(zlib.compress(whole, 6)) > 0.99 * len(whole)
    zstd = shutil.which("zstd")
    if zstd:
        packed = subprocess.run([zstd, "-3", "--long=27", "-c"], input=whole, capture_output=True, check=True).stdout
        assert len(packed) > 0.99 * len(whole), len(packed)
    else:
        assert os.environ.get("CI") != "true", "zstd missing (CI=true)"
    header_len = int.from_bytes(data[:8], "little")
    assert json.loads(data[8:8 + header_len])["__metadata__"]["format"] == "pt"
    # A range in the middle is the same bytes.
    status, headers, _ = raw("HEAD", f"{hub.endpoint}/org/generated/resolve/main/w.safetensors")
    status, _, body = raw("GET", headers["Location"], {"Range": f"bytes={block - 5}-{block + 5}"})
    assert status == 206 and body == data[block - 5:block + 6]


def test_a_stalled_download_the_client_closes_is_counted(hub):
    hub.fail("/lfs/", count=1, port="cdn", truncate_after=100, stall_secs=30)
    status, headers, _ = raw("HEAD", f"{hub.endpoint}/org/generated/resolve/main/w.safetensors")
    parts = urlsplit(headers["Location"])
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    conn.request("GET", f"{parts.path}?{parts.query}")
    resp = conn.getresponse()
    assert resp.read(100) and resp.status == 200
    assert hub.stats()["counts"].get("stall-closed:cdn") is None
    conn.close()
    deadline = time.time() + 10
    while time.time() < deadline and hub.stats()["counts"].get("stall-closed:cdn") != 1:
        time.sleep(0.1)
    assert hub.stats()["counts"].get("stall-closed:cdn") == 1
