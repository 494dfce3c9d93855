#!/usr/bin/env python3
"""A fake Hugging Face Hub for end-to-end tests (Python standard library only).

Two HTTP servers on 127.0.0.1: the Hub itself (API, tree listing, resolve) and a "CDN"
that serves LFS files behind signed, expiring URLs, as the real Hub's 302 redirects do.
Repositories are read from disk on every request (see hubdata.py and README.md).
The hub port also serves a plain directory (--files) for tests of http(s) URL sources:
/files/<path>, and /redirect/<n>/<path> that reaches it after n redirects.

CLI:
    fakehub.py --repos DIR [--files DIR] [--port 0] [--cdn-port 0] [--state-file FILE] [--quiet]
               [--exit-on-stdin-eof]

Python:
    hub = start(repos_dir)          # FakeHub with .endpoint, .cdn, .stats(), .fail(), .stop()
"""

from __future__ import annotations

import argparse
import base64
import collections
import gzip
import hashlib
import hmac
import json
import mimetypes
import os
import re
import secrets
import select
import signal
import socket
import struct
import sys
import threading
import time
import traceback
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, quote, unquote, urlencode

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from hubdata import (  # noqa: E402
    DEFAULT_BRANCH,
    FileMeta,
    HashCache,
    Repo,
    clean_repo_path,
    generated_chunks,
    load_repo,
    write_json_atomic,
)

HOST = "127.0.0.1"
CHUNK_SIZE = 1 << 16
# Served instead of the real bytes for paths listed in repo.json "corrupt": same size, other bytes.
CORRUPT_TABLE = bytes(255 - i for i in range(256))


class HubError(Exception):
    """An error answered the Hub way: X-Error-Code / X-Error-Message headers and {"error": msg}."""

    def __init__(self, status: int, code: str | None, message: str, headers: dict | None = None):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or {}


def revision_not_found(rev: str) -> HubError:
    return HubError(404, "RevisionNotFound", f"Invalid rev id: {rev}")


def entry_not_found(sha: str) -> HubError:
    # The Hub sends X-Repo-Commit even on a 404, so clients can cache the absence.
    return HubError(404, "EntryNotFound", "Entry not found", {"X-Repo-Commit": sha})


def is_true(value: str | None) -> bool:
    return value is not None and value.lower() in ("1", "true", "yes")


def display_repo(repo: Repo) -> str:
    """How a repo appears in resolve URLs and in stats keys: org/name or datasets/org/name."""
    return repo.repo_id if repo.kind == "models" else f"{repo.kind}/{repo.repo_id}"


def etag_matches(if_none_match: str | None, etag: str) -> bool:
    if not if_none_match:
        return False
    for candidate in if_none_match.split(","):
        candidate = candidate.strip()
        if candidate.startswith("W/"):
            candidate = candidate[2:]
        if candidate == "*" or candidate.strip('"') == etag:
            return True
    return False


def parse_range(header: str | None, size: int):
    """(start, end) inclusive for a single byte range, None to ignore it, "unsatisfiable" for a 416."""
    if not header:
        return None
    m = re.fullmatch(r"\s*bytes=(\d*)-(\d*)\s*", header)
    if not m or (m.group(1) == "" and m.group(2) == ""):
        return None  # malformed or multiple ranges: serve the whole file, as HTTP allows
    first, last = m.groups()
    if first == "":  # suffix range: the last N bytes
        length = int(last)
        if length == 0 or size == 0:
            return "unsatisfiable"
        return max(0, size - length), size - 1
    start = int(first)
    end = size - 1 if last == "" else min(int(last), size - 1)
    if start >= size or end < start:
        return "unsatisfiable"
    return start, end


def encode_cursor(offset: int) -> str:
    return base64.urlsafe_b64encode(json.dumps({"offset": offset}).encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> int:
    if not cursor:
        return 0
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        offset = json.loads(base64.urlsafe_b64decode(padded))["offset"]
        if isinstance(offset, int) and offset >= 0:
            return offset
    except (ValueError, KeyError, TypeError):
        pass
    raise HubError(400, "BadRequest", "Invalid cursor")


# --- test controls: failure injection and statistics ------------------------------------


class FailureRules:
    """Rules making the next N matching requests fail (status rules) or break off (truncate rules)."""

    def __init__(self):
        self._lock = threading.Lock()
        self._rules: list[dict] = []

    def add(self, rule: dict) -> dict:
        rule = {
            "path_contains": str(rule.get("path_contains", "")),
            "status": int(rule.get("status", 500)),
            "count": int(rule.get("count", 1)),
            "method": (rule.get("method") or "").upper() or None,
            "port": rule.get("port"),  # "hub", "cdn" or None for both
            "retry_after": int(rule.get("retry_after", 1)),
            "truncate_after": rule.get("truncate_after"),  # bytes of body to send before closing
            # Hostile modes. Status rules: "reset" closes the connection with a TCP RST instead
            # of answering; "location" answers a 302 there ("self": back to the same URL, a loop).
            # Truncate rules: "stall_secs" sends nothing more for that long instead of closing
            # (or until the client closes the connection, counted as "stall-closed:<port>").
            "reset": bool(rule.get("reset", False)),
            "location": rule.get("location"),
            "stall_secs": float(rule.get("stall_secs", 0)),
        }
        with self._lock:
            self._rules.append(rule)
        return rule

    def take(self, port: str, method: str, target: str, truncate: bool) -> dict | None:
        """Consume one use of the first matching rule of the wanted type."""
        with self._lock:
            for rule in self._rules:
                if (rule["truncate_after"] is not None) != truncate:
                    continue
                if rule["port"] and rule["port"] != port:
                    continue
                if rule["method"] and rule["method"] != method:
                    continue
                needle = rule["path_contains"]
                if needle in target or needle in unquote(target):
                    rule["count"] -= 1
                    if rule["count"] <= 0:
                        self._rules.remove(rule)
                    return dict(rule)
        return None

    def reset(self) -> None:
        with self._lock:
            self._rules.clear()


class Stats:
    """Every request seen (never the token itself) and per-resource counters."""

    def __init__(self):
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self._requests: list[dict] = []
            self._counts: dict[str, int] = {}

    def record(self, entry: dict) -> None:
        with self._lock:
            self._requests.append(entry)

    def count(self, key: str) -> None:
        with self._lock:
            self._counts[key] = self._counts.get(key, 0) + 1

    def snapshot(self) -> dict:
        with self._lock:
            return {"requests": list(self._requests), "counts": dict(self._counts)}


class HubState:
    """What both servers share."""

    def __init__(self, repos_root: str, quiet: bool, url_ttl: int, files_root: str | None = None):
        self.repos_root = os.path.abspath(repos_root)
        self.files_root = os.path.abspath(files_root) if files_root else None
        self.quiet = quiet
        self.url_ttl = url_ttl
        self.hashes = HashCache()
        self.rules = FailureRules()
        self.stats = Stats()
        self.secret = secrets.token_bytes(16)
        self.endpoint = ""  # set once the servers are bound
        self.cdn = ""
        # Bodies already served per (repo, path), for repo.json "corrupt_first".
        self.served = collections.Counter()
        self.served_lock = threading.Lock()
        # Branches already moved by repo.json "move_after_info", per repo.
        self.moved: dict[str, set] = {}

    def corrupt_now(self, repo: Repo, path: str, is_body: bool) -> bool:
        """Persistent corruption ("corrupt"), or only the first body served ("corrupt_first")."""
        if repo.is_corrupt(path):
            return True
        if path not in repo.config.get("corrupt_first", []) or not is_body:
            return False
        with self.served_lock:
            self.served[(repo.repo_id, path)] += 1
            return self.served[(repo.repo_id, path)] == 1

    def load_repo(self, kind: str, org: str, name: str) -> Repo | None:
        return load_repo(self.repos_root, kind, unquote(org), unquote(name), self.hashes)

    def sign(self, resource: str, path: str, expires: int) -> str:
        msg = f"{resource}\n{path}\n{expires}".encode()
        return hmac.new(self.secret, msg, hashlib.sha256).hexdigest()[:32]

    def cdn_url(self, repo: Repo, sha: str, meta: FileMeta) -> str:
        """A signed, expiring URL on the CDN server for an LFS file."""
        resource = f"lfs/{repo.kind}/{repo.repo_id}/{sha}/{meta.sha256}"
        expires = int(time.time()) + self.url_ttl
        query = urlencode({"path": meta.path, "Expires": expires, "Signature": self.sign(resource, meta.path, expires)})
        return f"{self.cdn}/{resource}?{query}"

    def log(self, line: str) -> None:
        if not self.quiet:
            sys.stderr.write(f"[fakehub] {line}\n")
            sys.stderr.flush()


# --- HTTP plumbing shared by both servers --------------------------------------------------


class BaseHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    port_name = "?"
    routes: list = []

    @property
    def state(self) -> HubState:
        return self.server.state

    def log_message(self, format, *args):  # noqa: A002 - one line per request is logged in _handle
        pass

    def do_GET(self):
        self._handle("GET")

    def do_HEAD(self):
        self._handle("HEAD")

    def do_POST(self):
        self._handle("POST")

    def _handle(self, method: str) -> None:
        self.method = method
        self.status = None
        self._recorded = False
        self.target = self.path  # raw, still percent-encoded
        self.raw_path, _, self.query = self.path.partition("?")
        self.params = dict(parse_qsl(self.query, keep_blank_values=True))
        control = self.raw_path.startswith("/_fake/")
        if method == "POST" and not control:
            self.read_body()  # only controls take a body: drain it to keep the connection usable
        try:
            rule = None if control else self.state.rules.take(self.port_name, method, self.target, truncate=False)
            if rule:
                self.send_injected_failure(rule)
            else:
                self.route()
        except HubError as e:
            self.send_hub_error(e)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        except Exception:  # a bug in the fake: make it loud
            traceback.print_exc()
            if self.status is None:
                self.send_json(500, {"error": "fakehub internal error"})
            self.close_connection = True
        finally:
            # Normally recorded in send_response already; this covers a request that ended
            # without any response (e.g. the client hung up first).
            self.record_request()
            auth = "Authorization" in self.headers
            self.state.log(f"{self.port_name} {method} {self.target} {self.status} auth={'yes' if auth else 'no'}")

    def record_request(self) -> None:
        """Add this request to the stats, once, unless it is a test control.

        Called from send_response, i.e. before a single byte of the response leaves the
        server: a client that has seen the response (and then, say, reset the stats) can
        never have its request recorded afterwards.
        """
        if getattr(self, "_recorded", True) or self.raw_path.startswith("/_fake/"):
            return
        self._recorded = True
        self.state.stats.record({
            "method": self.method, "path": self.raw_path, "query": self.query,
            "status": self.status, "port": self.port_name, "auth": "Authorization" in self.headers,
            "range": self.headers.get("Range"), "if_none_match": self.headers.get("If-None-Match"),
        })

    def send_response(self, code, message=None):
        # Responses are buffered until end_headers, so recording here is race-free.
        self.status = code
        self.record_request()
        super().send_response(code, message)

    def route(self) -> None:
        if self.method == "POST" and not self.raw_path.startswith("/_fake/"):
            raise HubError(405, None, "Method Not Allowed")
        for pattern, handler in self.routes:
            m = pattern.match(self.raw_path)
            if m:
                return handler(self, *m.groups())
        raise HubError(404, None, "Not Found")

    def read_body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def read_json_body(self) -> dict:
        raw = self.read_body()
        try:
            return json.loads(raw or b"{}")
        except ValueError:
            raise HubError(400, "BadRequest", "Body must be JSON")

    # --- responses ---
    def send(self, status: int, headers: dict | None = None, body: bytes = b"") -> None:
        """A complete response with a Content-Length; no body for HEAD or 304."""
        self.status = status
        self.send_response(status)
        for key, value in (headers or {}).items():
            self.send_header(key, str(value))
        if status != 304:
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.method != "HEAD" and status != 304:
            self.wfile.write(body)

    def send_json(self, status: int, obj, headers: dict | None = None) -> None:
        body = json.dumps(obj).encode()
        self.send(status, {"Content-Type": "application/json; charset=utf-8", **(headers or {})}, body)

    def send_hub_error(self, e: HubError) -> None:
        headers = dict(e.headers)
        if e.code:
            headers["X-Error-Code"] = e.code
        headers["X-Error-Message"] = e.message
        self.send_json(e.status, {"error": e.message}, headers)

    def send_injected_failure(self, rule: dict) -> None:
        if rule["reset"]:
            self.status = 0
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.close_connection = True
            self.connection.close()
            return
        if rule["location"]:
            location = self.target if rule["location"] == "self" else rule["location"]
            return self.send(302, {"Location": location})
        status = rule["status"]
        headers = {}
        if status == 429:
            bucket = "resolvers" if "/resolve/" in self.raw_path else "api"
            headers["RateLimit"] = f'"{bucket}";r=0;t={rule["retry_after"]}'
            headers["RateLimit-Policy"] = f'"fixed window";"{bucket}";q=3000;w=300'
            headers["Retry-After"] = rule["retry_after"]
        self.send_json(status, {"error": f"fakehub injected failure {status}"}, headers)

    def serve_file(self, repo: Repo, meta: FileMeta, etag: str, headers: dict) -> None:
        """Serve file bytes with ETag, If-None-Match, Range, optional gzip and failure rules."""
        headers = {"ETag": f'"{etag}"', "Accept-Ranges": "bytes", **headers}
        if etag_matches(self.headers.get("If-None-Match"), etag):
            return self.send(304, headers)
        headers.setdefault("Content-Type", mimetypes.guess_type(meta.path)[0] or "application/octet-stream")
        corrupt = self.state.corrupt_now(repo, meta.path, self.method == "GET")
        rng = parse_range(self.headers.get("Range"), meta.size)
        if rng == "unsatisfiable":
            raise HubError(416, None, "Requested Range Not Satisfiable", {"Content-Range": f"bytes */{meta.size}"})
        if rng is None and self.wants_gzip(repo, meta):
            return self.send_gzipped(meta, corrupt, headers)
        status = 206 if rng else 200
        start, end = rng or (0, meta.size - 1)
        if rng:
            headers["Content-Range"] = f"bytes {start}-{end}/{meta.size}"
        length = end - start + 1
        truncate = None
        if self.method == "GET":
            truncate = self.state.rules.take(self.port_name, self.method, self.target, truncate=True)
        self.status = status
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, str(value))
        self.send_header("Content-Length", str(length))
        self.end_headers()
        if self.method == "HEAD":
            return
        limit = length if truncate is None else min(length, int(truncate["truncate_after"]))
        if meta.generated is not None:
            for chunk in generated_chunks(meta.path, meta.generated, meta.size, start, limit):
                self.wfile.write(chunk.translate(CORRUPT_TABLE) if corrupt else chunk)
        else:
            self.stream(meta.abs_path, start, limit, corrupt)
        if truncate is not None and truncate["stall_secs"] > 0:
            self.wfile.flush()
            self.stall(truncate["stall_secs"])
        if limit < length:
            self.close_connection = True  # the client sees the body end early

    def stall(self, seconds: float) -> None:
        """Send nothing for `seconds`, ending early when the client closes the connection
        (counted as "stall-closed:<port>": the client gave the download up, e.g. a cancelled build)."""
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            readable, _, _ = select.select([self.connection], [], [], min(left, 0.5))
            if not readable:
                continue
            try:
                closed = self.connection.recv(1, socket.MSG_PEEK) == b""
            except OSError:
                closed = True
            if closed:
                self.state.stats.count(f"stall-closed:{self.port_name}")
                return
            time.sleep(min(left, 0.5))  # the client sent something else: keep stalling

    def stream(self, abs_path: str, start: int, length: int, corrupt: bool) -> None:
        with open(abs_path, "rb") as f:
            f.seek(start)
            remaining = length
            while remaining > 0:
                chunk = f.read(min(CHUNK_SIZE, remaining))
                if not chunk:
                    break
                self.wfile.write(chunk.translate(CORRUPT_TABLE) if corrupt else chunk)
                remaining -= len(chunk)

    def wants_gzip(self, repo: Repo, meta: FileMeta) -> bool:
        # Like the Hub's gzip for compressible text files: opt-in per repo with "compress": true.
        accept = self.headers.get("Accept-Encoding", "")
        return bool(repo.config.get("compress")) and not meta.lfs and meta.size > 0 and "gzip" in accept

    def send_gzipped(self, meta: FileMeta, corrupt: bool, headers: dict) -> None:
        """gzip + chunked transfer encoding, so there is no Content-Length (as on the Hub)."""
        with open(meta.abs_path, "rb") as f:
            data = f.read()
        body = gzip.compress(data.translate(CORRUPT_TABLE) if corrupt else data)
        self.status = 200
        self.send_response(200)
        for key, value in headers.items():
            self.send_header(key, str(value))
        self.send_header("Content-Encoding", "gzip")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        if self.method == "HEAD":
            return
        for i in range(0, len(body), CHUNK_SIZE):
            piece = body[i:i + CHUNK_SIZE]
            self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
        self.wfile.write(b"0\r\n\r\n")


# --- the Hub server ---------------------------------------------------------------------------


class HubHandler(BaseHandler):
    port_name = "hub"

    # --- access control ---
    def bearer_token(self) -> str | None:
        scheme, _, token = self.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return None
        return token.strip()

    def load_repo(self, kind: str, org: str, name: str) -> Repo:
        repo = self.state.load_repo(kind, org, name)
        if repo is None:
            # Like the Hub, an anonymous caller cannot tell a missing repo from a private one.
            if self.bearer_token() is None:
                raise HubError(401, "RepoNotFound", "Invalid username or password.")
            raise HubError(404, "RepoNotFound", "Repository not found")
        return repo

    def authorize(self, repo: Repo, files: bool) -> None:
        """Private repos hide everything; gated repos hide files (and metadata with "gate_metadata")."""
        token = self.bearer_token()
        if repo.private:
            if token is None:
                raise HubError(401, "RepoNotFound", "Invalid username or password.")
            if token not in repo.tokens:
                raise HubError(404, "RepoNotFound", "Repository not found")
        if repo.gated and (files or repo.config.get("gate_metadata")):
            what = f"{repo.singular_kind} {repo.repo_id}"
            if token is None:
                raise HubError(401, "GatedRepo", (
                    f"Access to {what} is restricted. You must have access to it and be authenticated"
                    " to access it. Please log in."))
            if token not in repo.tokens:
                raise HubError(403, "GatedRepo", (
                    f"Access to {what} is restricted and you are not in the authorized list. "
                    f"Visit {self.state.endpoint}/{display_repo(repo)} to ask for access."))

    def split_rev_path(self, repo: Repo, rest: str) -> tuple[str, str, str]:
        """Split "<rev>/<path>" into (rev, commit sha, path).

        The revision may be one encoded segment (refs%2Fpr%2F1) or raw with slashes
        (refs/pr/1); the shortest prefix that names a revision wins.
        """
        segments = [unquote(s) for s in rest.split("/")]
        for i in range(1, len(segments) + 1):
            rev = "/".join(segments[:i])
            sha = repo.resolve(rev)
            if sha:
                path = clean_repo_path("/".join(segments[i:]))
                if path is None:
                    raise HubError(400, "BadRequest", "Invalid path")
                return rev, sha, path
        raise revision_not_found(segments[0])

    # --- /api/{models|datasets}/{org}/{name}[/revision/{rev}] ---
    def api_info(self, kind, org, name, raw_rev):
        repo = self.load_repo(kind, org, name)
        self.authorize(repo, files=False)
        rev = unquote(raw_rev) if raw_rev else DEFAULT_BRANCH
        sha = repo.resolve(rev)
        if sha is None:
            raise revision_not_found(rev)
        self.state.stats.count(f"api:{display_repo(repo)}")
        blobs = is_true(self.params.get("blobs"))
        siblings = [self.sibling(repo, sha, path, blobs) for path in repo.files(sha)]
        siblings = self.hostile_siblings(repo, siblings, blobs)
        # "move_after_info": {"main": "<rev>"} moves a branch right after its first listing,
        # as a push between a client's listing and its downloads would.
        for branch, target in (repo.config.get("move_after_info") or {}).items():
            moved = self.state.moved.setdefault(f"{repo.kind}/{repo.repo_id}", set())
            if branch not in moved and branch == rev:
                moved.add(branch)
                self.move_branch(repo, branch, target)
        info = {
            "_id": hashlib.sha1(f"{repo.kind}/{repo.repo_id}".encode()).hexdigest()[:24],
            "id": repo.repo_id,
            "author": repo.repo_id.split("/")[0],
            "sha": sha,
            "lastModified": repo.commit_date(sha),
            "createdAt": min(repo.commit_dates.values(), default=repo.commit_date(sha)),
            "private": repo.private,
            "gated": repo.gated,
            "disabled": False,
            "downloads": 0,
            "likes": 0,
            "tags": [],
            "siblings": siblings,
            "usedStorage": sum(repo.meta(sha, p).size for p in repo.files(sha)),
        }
        if repo.kind == "models":
            info["modelId"] = repo.repo_id
        self.send_json(200, info)

    def hostile_siblings(self, repo: Repo, siblings: list[dict], blobs: bool) -> list[dict]:
        """repo.json hostile listing settings (a real Hub never lists these; a hostile mirror may):
        "lie": {path: {"size": n, "sha256": hex}} overrides what the listing says of a file;
        "extra_siblings": [raw sibling dicts] are appended as they are (unsafe names, duplicates);
        "synthetic_files": n appends n LFS entries that exist nowhere (a huge listing)."""
        lies = repo.config.get("lie") or {}
        for entry in siblings:
            lie = lies.get(entry["rfilename"])
            if lie and blobs:
                if "size" in lie:
                    entry["size"] = lie["size"]
                    if "lfs" in entry:
                        entry["lfs"]["size"] = lie["size"]
                if "sha256" in lie and "lfs" in entry:
                    entry["lfs"]["sha256"] = lie["sha256"]
        siblings = siblings + [dict(e) for e in repo.config.get("extra_siblings") or []]
        for i in range(int(repo.config.get("synthetic_files", 0))):
            entry = {"rfilename": f"shards/part-{i:06d}.bin"}
            if blobs:
                sha = hashlib.sha256(str(i).encode()).hexdigest()
                entry.update({"size": 1, "blobId": sha[:40], "lfs": {"sha256": sha, "size": 1, "pointerSize": 130}})
            siblings.append(entry)
        return siblings

    def move_branch(self, repo: Repo, branch: str, target: str) -> None:
        sha = repo.resolve(target)
        if sha is None:
            raise HubError(500, None, f"move_after_info: unknown revision {target}")
        refs_path = os.path.join(repo.dir, "refs.json")
        with open(refs_path) as f:
            refs = json.load(f)
        refs.setdefault("branches", {})[branch] = sha
        write_json_atomic(refs_path, refs)

    def sibling(self, repo: Repo, sha: str, path: str, blobs: bool) -> dict:
        if not blobs:
            return {"rfilename": path}
        meta = repo.meta(sha, path)
        entry = {"rfilename": path, "size": meta.size, "blobId": meta.oid}
        if meta.lfs:
            entry["lfs"] = {"sha256": meta.sha256, "size": meta.size, "pointerSize": len(meta.pointer)}
        return entry

    # --- /api/{models|datasets}/{org}/{name}/tree/{rev}[/{path}] ---
    def api_tree(self, kind, org, name, rest):
        repo = self.load_repo(kind, org, name)
        self.authorize(repo, files=False)
        _, sha, path = self.split_rev_path(repo, rest)
        if not repo.is_dir(sha, path):
            raise entry_not_found(sha)
        self.state.stats.count(f"tree:{display_repo(repo)}")
        expand = is_true(self.params.get("expand"))
        entries = self.tree_entries(repo, sha, path, is_true(self.params.get("recursive")), expand)
        page_size = repo.page_size(expand)
        offset = decode_cursor(self.params.get("cursor"))
        headers = {}
        if offset + page_size < len(entries):
            # Absolute URL carrying every query parameter, as the Hub sends it.
            params = [(k, v) for k, v in parse_qsl(self.query, keep_blank_values=True) if k != "cursor"]
            params.append(("cursor", encode_cursor(offset + page_size)))
            headers["Link"] = f'<{self.state.endpoint}{self.raw_path}?{urlencode(params)}>; rel="next"'
        self.send_json(200, entries[offset:offset + page_size], headers)

    def tree_entries(self, repo: Repo, sha: str, path: str, recursive: bool, expand: bool) -> list[dict]:
        prefix = f"{path}/" if path else ""
        oids = repo.tree_oids(sha)

        def wanted(p: str) -> bool:
            if not p.startswith(prefix) or p == path:
                return False
            return recursive or "/" not in p[len(prefix):]

        entries = [{"type": "directory", "oid": oids[d], "size": 0, "path": d} for d in oids if d and wanted(d)]
        for p in repo.files(sha):
            if wanted(p):
                meta = repo.meta(sha, p)
                entry = {"type": "file", "oid": meta.oid, "size": meta.size, "path": p}
                if meta.lfs:
                    entry["lfs"] = {"oid": meta.sha256, "size": meta.size, "pointerSize": len(meta.pointer)}
                entries.append(entry)
        if expand:
            # Approximation: the listed commit stands in for each entry's last commit.
            last = {"id": sha, "title": "Update files", "date": repo.commit_date(sha)}
            for entry in entries:
                entry["lastCommit"] = last
                if entry["type"] == "file":
                    entry["securityFileStatus"] = {"status": "safe"}
        return sorted(entries, key=lambda e: e["path"])

    # --- /{org}/{name}/resolve/{rev}/{path} and /datasets/... ---
    def resolve(self, datasets, org, name, rest):
        repo = self.load_repo("datasets" if datasets else "models", org, name)
        self.authorize(repo, files=True)
        _, sha, path = self.split_rev_path(repo, rest)
        meta = repo.meta(sha, path)
        if meta is None:
            raise entry_not_found(sha)
        self.state.stats.count(f"resolve:{display_repo(repo)}:{path}")
        headers = {"X-Repo-Commit": sha}
        if meta.lfs:
            headers.update({"X-Linked-Etag": f'"{meta.sha256}"', "X-Linked-Size": meta.size})
            if etag_matches(self.headers.get("If-None-Match"), meta.sha256):
                return self.send(304, {**headers, "ETag": f'"{meta.sha256}"'})
            location = self.state.cdn_url(repo, sha, meta)
            body = f"Found. Redirecting to {location}".encode()
            return self.send(302, {**headers, "Location": location, "Content-Type": "text/plain; charset=utf-8"}, body)
        # Regular files: served directly when empty, or for private/gated repos (as the Hub
        # does; override with "direct_small_files"), else a relative 307 to resolve-cache.
        direct = repo.config.get("direct_small_files", repo.private or bool(repo.gated))
        if meta.size == 0 or direct:
            return self.serve_file(repo, meta, meta.sha1, headers)
        if etag_matches(self.headers.get("If-None-Match"), meta.sha1):
            return self.send(304, {**headers, "ETag": f'"{meta.sha1}"'})
        location = (f"/api/resolve-cache/{repo.kind}/{repo.repo_id}/{sha}/{quote(path)}"
                    f"?etag={quote(chr(34) + meta.sha1 + chr(34), safe='')}")
        body = f"Temporary Redirect. Redirecting to {location}".encode()
        self.send(307, {**headers, "Location": location, "Content-Type": "text/plain; charset=utf-8"}, body)

    # --- /api/resolve-cache/{models|datasets}/{org}/{name}/{commit}/{path} ---
    def resolve_cache(self, kind, org, name, sha, raw_path):
        repo = self.load_repo(kind, org, name)
        self.authorize(repo, files=True)
        if not repo.commit_exists(sha):
            raise revision_not_found(sha)
        path = clean_repo_path(unquote(raw_path))
        meta = repo.meta(sha, path) if path else None
        if meta is None:
            raise entry_not_found(sha)
        self.state.stats.count(f"resolve-cache:{display_repo(repo)}:{path}")
        self.serve_file(repo, meta, meta.etag, {"X-Repo-Commit": sha})

    # --- /files/{path} and /redirect/{n}/{path}: a plain file server (not part of the Hub) ---
    def plain_file(self, raw_path):
        """The bytes of a file under --files, with a sha256 ETag and If-None-Match; else 404."""
        path = clean_repo_path(unquote(raw_path))
        root = self.state.files_root
        abs_path = os.path.join(root, *path.split("/")) if root and path else None
        if abs_path is None or not os.path.isfile(abs_path):
            return self.send(404, {"Content-Type": "text/plain; charset=utf-8"}, b"404 page not found\n")
        self.state.stats.count(f"files:{path}")
        digest = hashlib.sha256()
        with open(abs_path, "rb") as f:
            for chunk in iter(lambda: f.read(CHUNK_SIZE), b""):
                digest.update(chunk)
        etag = digest.hexdigest()
        headers = {"ETag": f'"{etag}"'}
        if etag_matches(self.headers.get("If-None-Match"), etag):
            return self.send(304, headers)
        size = os.path.getsize(abs_path)
        self.status = 200
        self.send_response(200)
        for key, value in {**headers, "Content-Type": "application/octet-stream", "Content-Length": size}.items():
            self.send_header(key, str(value))
        self.end_headers()
        if self.method == "GET":
            self.stream(abs_path, 0, size, corrupt=False)

    def plain_redirect(self, n, raw_path):
        """A 302 to /redirect/{n-1}/{path}, or to /files/{path} when n is 1."""
        n = int(n)
        if n < 1:
            raise HubError(400, None, "Redirect count must be at least 1")
        location = f"/files/{raw_path}" if n == 1 else f"/redirect/{n - 1}/{raw_path}"
        self.send(302, {"Location": location, "Content-Type": "text/plain; charset=utf-8"}, b"Found\n")

    # --- /_fake/... test controls (never counted, never failed) ---
    def control(self, action):
        state = self.state
        if action == "fail" and self.method == "POST":
            return self.send_json(200, {"ok": True, "rule": state.rules.add(self.read_json_body())})
        if action == "reset" and self.method == "POST":
            state.rules.reset()
            return self.send_json(200, {"ok": True})
        if action == "reset-stats" and self.method == "POST":
            state.stats.reset()
            return self.send_json(200, {"ok": True})
        if action == "stats" and self.method in ("GET", "HEAD"):
            return self.send_json(200, state.stats.snapshot())
        if action == "health":
            return self.send_json(200, {"ok": True, "endpoint": state.endpoint, "cdn": state.cdn})
        raise HubError(404, None, "Unknown control endpoint")

    KIND = r"(models|datasets)"
    SEG = r"([^/]+)"
    routes = [
        (re.compile(r"^/_fake/([a-z-]+)$"), control),
        (re.compile(r"^/files/(.+)$"), plain_file),
        (re.compile(r"^/redirect/([0-9]{1,3})/(.+)$"), plain_redirect),
        (re.compile(rf"^/api/resolve-cache/{KIND}/{SEG}/{SEG}/([0-9a-f]{{40}})/(.+)$"), resolve_cache),
        (re.compile(rf"^/api/{KIND}/{SEG}/{SEG}/tree/(.+)$"), api_tree),
        (re.compile(rf"^/api/{KIND}/{SEG}/{SEG}(?:/revision/(.+))?$"), api_info),
        (re.compile(rf"^/(?:(datasets)/)?{SEG}/{SEG}/resolve/(.+)$"), resolve),
    ]


# --- the CDN server -------------------------------------------------------------------------


class CdnHandler(BaseHandler):
    """Serves LFS bytes for signed URLs. No auth, no X-Repo-Commit/X-Linked-*, its own ETag."""

    port_name = "cdn"

    def deny(self, reason: str) -> None:
        body = f"<?xml version=\"1.0\"?><Error><Code>AccessDenied</Code><Message>{reason}</Message></Error>"
        self.send(403, {"Content-Type": "application/xml"}, body.encode())

    def lfs(self, kind, org, name, sha, sha256):
        resource = f"lfs/{kind}/{unquote(org)}/{unquote(name)}/{sha}/{sha256}"
        path = self.params.get("path", "")
        try:
            expires = int(self.params.get("Expires", ""))
        except ValueError:
            return self.deny("Missing or invalid Expires")
        if not hmac.compare_digest(self.params.get("Signature", ""), self.state.sign(resource, path, expires)):
            return self.deny("Invalid signature")
        if expires < time.time():
            return self.deny("Request has expired")
        repo = self.state.load_repo(kind, org, name)
        meta = repo.meta(sha, clean_repo_path(path) or "") if repo and repo.commit_exists(sha) else None
        if meta is None or meta.sha256 != sha256:
            return self.send(404, {"Content-Type": "application/xml"}, b"<Error><Code>NoSuchKey</Code></Error>")
        self.state.stats.count(f"cdn:{sha256}")
        filename = os.path.basename(meta.path)
        headers = {
            "Content-Type": "application/octet-stream",
            "Content-Disposition": f"inline; filename*=UTF-8''{quote(filename)}; filename=\"{filename}\"",
            "Cache-Control": "public, max-age=604800, immutable",
        }
        # A 64-hex ETag unrelated to the content sha256, like the real CDN's.
        cdn_etag = hashlib.sha256(f"cdn:{sha256}".encode()).hexdigest()
        self.serve_file(repo, meta, cdn_etag, headers)

    routes = [
        (re.compile(r"^/lfs/(models|datasets)/([^/]+)/([^/]+)/([0-9a-f]{40})/([0-9a-f]{64})$"), lfs),
    ]


# --- starting and stopping ----------------------------------------------------------------------


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    # BuildKit opens one connection per file at once (1000+ for big repos);
    # the default listen backlog of 5 makes the kernel reset them.
    request_queue_size = 2048

    def __init__(self, port: int, handler, state: HubState):
        super().__init__((HOST, port), handler)
        self.state = state


class FakeHub:
    """A running fake Hub: both servers, their URLs and the test controls."""

    def __init__(self, repos_dir: str, port: int = 0, cdn_port: int = 0, quiet: bool = True, url_ttl: int = 3600,
                 files_dir: str | None = None):
        self.state = HubState(repos_dir, quiet, url_ttl, files_dir)
        self.cdn_server = _Server(cdn_port, CdnHandler, self.state)
        self.hub_server = _Server(port, HubHandler, self.state)
        self.endpoint = f"http://{HOST}:{self.hub_server.server_address[1]}"
        self.cdn = f"http://{HOST}:{self.cdn_server.server_address[1]}"
        self.state.endpoint, self.state.cdn = self.endpoint, self.cdn
        self._threads = [
            threading.Thread(target=server.serve_forever, name=f"fakehub-{name}", daemon=True)
            for name, server in (("hub", self.hub_server), ("cdn", self.cdn_server))
        ]
        for thread in self._threads:
            thread.start()

    # Test controls, the same as the /_fake/ endpoints.
    def stats(self) -> dict:
        return self.state.stats.snapshot()

    def reset_stats(self) -> None:
        self.state.stats.reset()

    def fail(self, path_contains: str, status: int = 500, count: int = 1, **options) -> None:
        self.state.rules.add({"path_contains": path_contains, "status": status, "count": count, **options})

    def reset(self) -> None:
        self.state.rules.reset()

    def stop(self) -> None:
        for server in (self.hub_server, self.cdn_server):
            server.shutdown()
            server.server_close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


def start(repos_dir: str, port: int = 0, cdn_port: int = 0, quiet: bool = True, url_ttl: int = 3600,
          files_dir: str | None = None) -> FakeHub:
    """Start the Hub and CDN servers on 127.0.0.1 in background threads."""
    return FakeHub(repos_dir, port, cdn_port, quiet=quiet, url_ttl=url_ttl, files_dir=files_dir)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="Fake Hugging Face Hub for tests")
    parser.add_argument("--repos", required=True, help="repositories directory")
    parser.add_argument("--files", help="directory served as /files/<path> (plain file server)")
    parser.add_argument("--port", type=int, default=0, help="Hub port (0: any free port)")
    parser.add_argument("--cdn-port", type=int, default=0, help="CDN port (0: any free port)")
    parser.add_argument("--state-file", help="where to write {endpoint, cdn, pid} once listening")
    parser.add_argument("--url-ttl", type=int, default=3600, help="lifetime of signed CDN URLs, seconds")
    parser.add_argument("--quiet", action="store_true", help="do not log requests to stderr")
    parser.add_argument("--exit-on-stdin-eof", action="store_true",
                        help="also stop when stdin reaches end of file (the parent closed it or died)")
    args = parser.parse_args(argv)

    hub = start(args.repos, args.port, args.cdn_port, quiet=args.quiet, url_ttl=args.url_ttl, files_dir=args.files)
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    signal.signal(signal.SIGINT, lambda *_: stopped.set())
    if args.exit_on_stdin_eof:
        def watch_stdin():
            while sys.stdin.buffer.read(4096):
                pass
            stopped.set()
        threading.Thread(target=watch_stdin, name="fakehub-stdin", daemon=True).start()
    if args.state_file:
        write_json_atomic(args.state_file, {"endpoint": hub.endpoint, "cdn": hub.cdn, "pid": os.getpid()})
    hub.state.log(f"listening: hub {hub.endpoint}, cdn {hub.cdn}, repos {hub.state.repos_root}")
    while not stopped.wait(0.5):
        pass
    hub.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
