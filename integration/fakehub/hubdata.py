"""On-disk repository layout shared by the fake Hub server and make_repo.py.

Layout (one directory per repository):

    <repos>/<kind>/<org>/<name>/          kind is "models" or "datasets"
        refs.json                         {"branches": {name: sha}, "tags": {name: sha},
                                           "commit_dates": {sha: "2026-01-02T03:04:05.000Z"}}
        repo.json                         optional settings, see RepoConfig below
        commits/<40 hex>/...              the full file tree of each commit

Only the Python standard library is used.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import random
import re
import threading
from dataclasses import dataclass

KINDS = ("models", "datasets")
COMMIT_RE = re.compile(r"^[0-9a-f]{40}$")
DEFAULT_BRANCH = "main"
DEFAULT_DATE = "2026-01-01T00:00:00.000Z"

# A file is stored in LFS when it is at least this big or has one of these suffixes.
DEFAULT_LFS_THRESHOLD = 1024
LFS_SUFFIXES = (".safetensors", ".gguf", ".bin")


def is_lfs(path: str, size: int, threshold: int = DEFAULT_LFS_THRESHOLD) -> bool:
    """The one rule deciding whether a file is LFS-backed.

    Empty files are never LFS: git-lfs leaves them as plain empty blobs.
    """
    if size == 0:
        return False
    return size >= threshold or path.endswith(LFS_SUFFIXES)


def git_blob_sha1(data: bytes) -> str:
    """Git's object id of a blob: sha1(b"blob <len>\\0" + data)."""
    h = hashlib.sha1(b"blob %d\0" % len(data))
    h.update(data)
    return h.hexdigest()


def lfs_pointer(sha256: str, size: int) -> bytes:
    """The git-lfs pointer text that git stores in place of an LFS file."""
    return (
        "version https://git-lfs.github.com/spec/v1\n"
        f"oid sha256:{sha256}\n"
        f"size {size}\n"
    ).encode()


def git_tree_sha1(entries: list[tuple[str, bool, str]]) -> str:
    """Git's object id of a tree from (name, is_directory, object id hex) entries."""

    # Git sorts tree entries as if directory names ended with "/".
    def sort_key(entry):
        name, is_dir, _ = entry
        return (name + "/" if is_dir else name).encode()

    body = b""
    for name, is_dir, oid in sorted(entries, key=sort_key):
        mode = b"40000" if is_dir else b"100644"
        body += mode + b" " + name.encode() + b"\0" + bytes.fromhex(oid)
    return hashlib.sha1(b"tree %d\0" % len(body) + body).hexdigest()


def valid_segment(segment: str) -> bool:
    return segment not in ("", ".", "..") and "/" not in segment and "\\" not in segment


def clean_repo_path(path: str) -> str | None:
    """Normalise a path inside a repository; None if it tries to escape it."""
    parts = [p for p in path.strip("/").split("/") if p != ""]
    if any(not valid_segment(p) for p in parts):
        return None
    return "/".join(parts)


def repo_dir(repos_root: str, kind: str, repo_id: str) -> str:
    org, name = repo_id.split("/", 1)
    return os.path.join(repos_root, kind, org, name)


def write_json_atomic(path: str, data) -> None:
    """Write JSON so that concurrent readers never see a partial file."""
    tmp = f"{path}.tmp.{os.getpid()}.{threading.get_ident()}"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(data, f, indent=2, sort_keys=True)
        f.write("\n")
    os.replace(tmp, path)


def read_json(path: str, default):
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except FileNotFoundError:
        return default


class HashCache:
    """Thread-safe cache of (sha1 blob id, sha256) keyed by file identity.

    The key includes size and mtime so a rewritten file is hashed again.
    """

    def __init__(self):
        self._lock = threading.Lock()
        self._cache: dict[tuple, tuple[str, str]] = {}

    def hashes(self, abs_path: str) -> tuple[str, str]:
        st = os.stat(abs_path)

        def chunks():
            with open(abs_path, "rb") as f:
                yield from iter(lambda: f.read(1 << 20), b"")

        return self._hashed((abs_path, st.st_size, st.st_mtime_ns), st.st_size, chunks)

    def generated_hashes(self, path: str, seed: int, size: int) -> tuple[str, str]:
        """(sha1 blob id, sha256) of a generated file, computed once by streaming it."""
        return self._hashed(("generated", path, seed, size), size, lambda: generated_chunks(path, seed, size))

    def _hashed(self, key: tuple, size: int, chunks) -> tuple[str, str]:
        """The cached hashes under `key`, else those of the bytes `chunks()` yields."""
        with self._lock:
            hit = self._cache.get(key)
        if hit:
            return hit
        sha1 = hashlib.sha1(b"blob %d\0" % size)
        sha256 = hashlib.sha256()
        for chunk in chunks():
            sha1.update(chunk)
            sha256.update(chunk)
        result = (sha1.hexdigest(), sha256.hexdigest())
        with self._lock:
            self._cache[key] = result
        return result


# --- generated files (repo.json "generated"): big, deterministic, never stored ---------------
GEN_BLOCK = 1 << 20
# Blocks per group: a group is the seed's base (GEN_TILES blocks of random bytes) once, under
# a byte permutation of its own, so no block repeats another within GEN_TILES MiB of the file
# (compressors' windows are smaller: zstd's 8 MiB at most without long mode, gzip's 32 KiB).
GEN_TILES = 16


@functools.lru_cache(maxsize=8)
def _gen_base(seed: int) -> bytes:
    return random.Random(seed).randbytes(GEN_TILES * GEN_BLOCK)


@functools.lru_cache(maxsize=4096)
def _gen_table(seed: int, group: int) -> bytes:
    """The byte permutation of a group of blocks."""
    return bytes(random.Random(f"{seed}/{group}").sample(range(256), 256))


@functools.lru_cache(maxsize=64)
def _gen_header(path: str) -> bytes:
    """A valid safetensors header (no tensors) for *.safetensors, so header readers work; else b""."""
    if not path.endswith(".safetensors"):
        return b""
    header = json.dumps({"__metadata__": {"format": "pt", "generated": "fakehub"}}).encode()
    header += b" " * (-len(header) % 8)
    return len(header).to_bytes(8, "little") + header


def generated_chunks(path: str, seed: int, size: int, start: int = 0, length: int | None = None):
    """The bytes [start, start+length) of a generated file, in chunks of at most GEN_BLOCK.

    Block i of the file is tile i mod GEN_TILES of the seed's random base, its bytes mapped
    through the permutation of group i // GEN_TILES: no two blocks alike, and incompressible
    (no repeat within a compressor's window), as real weights nearly are. A safetensors header
    goes over the first bytes of weights. Only the base and a 1 MiB block are held per seed.
    """
    end = size if length is None else min(size, start + length)
    base, header = _gen_base(seed), _gen_header(path)
    pos = start
    while pos < end:
        index, offset = divmod(pos, GEN_BLOCK)
        group, tile = divmod(index, GEN_TILES)
        block = base[tile * GEN_BLOCK:(tile + 1) * GEN_BLOCK].translate(_gen_table(seed, group))
        if index == 0 and header:
            block = header + block[len(header):]
        piece = block[offset:offset + (end - pos)]
        yield piece
        pos += len(piece)


@dataclass(frozen=True)
class FileMeta:
    path: str  # relative to the repository root, "/"-separated
    abs_path: str  # where the bytes live on disk
    size: int
    sha1: str  # git blob id of the real content
    sha256: str
    lfs: bool
    generated: int | None = None  # the seed of a generated file (repo.json "generated")

    @property
    def pointer(self) -> bytes:
        return lfs_pointer(self.sha256, self.size)

    @property
    def oid(self) -> str:
        """The git object id: for LFS files git stores the pointer, not the content."""
        return git_blob_sha1(self.pointer) if self.lfs else self.sha1

    @property
    def etag(self) -> str:
        """The ETag the Hub uses for this file: sha256 for LFS, else the git blob sha1."""
        return self.sha256 if self.lfs else self.sha1


class Repo:
    """A read-only view of one repository directory, loaded fresh per request."""

    def __init__(self, directory: str, kind: str, repo_id: str, hashes: HashCache):
        self.dir = directory
        self.kind = kind
        self.repo_id = repo_id
        self._hashes = hashes
        refs = read_json(os.path.join(directory, "refs.json"), {})
        self.branches: dict[str, str] = refs.get("branches", {})
        self.tags: dict[str, str] = refs.get("tags", {})
        self.commit_dates: dict[str, str] = refs.get("commit_dates", {})
        self.config: dict = read_json(os.path.join(directory, "repo.json"), {})

    # --- settings from repo.json -------------------------------------------------
    @property
    def private(self) -> bool:
        return bool(self.config.get("private", False))

    @property
    def gated(self):
        """False, "auto" or "manual"."""
        return self.config.get("gated", False) or False

    @property
    def tokens(self) -> list[str]:
        return list(self.config.get("tokens", []))

    @property
    def lfs_threshold(self) -> int:
        return int(self.config.get("lfs_threshold", DEFAULT_LFS_THRESHOLD))

    def page_size(self, expand: bool) -> int:
        return int(self.config.get("page_size", 50 if expand else 1000))

    def is_corrupt(self, path: str) -> bool:
        return path in self.config.get("corrupt", [])

    @property
    def singular_kind(self) -> str:
        return "model" if self.kind == "models" else "dataset"

    # --- revisions ---------------------------------------------------------------
    def commit_exists(self, sha: str) -> bool:
        return bool(COMMIT_RE.match(sha)) and os.path.isdir(self.commit_dir(sha))

    def resolve(self, rev: str) -> str | None:
        """Branch, tag, or full commit sha -> commit sha (None if unknown)."""
        for refs in (self.branches, self.tags):
            if rev in refs:
                return refs[rev]
        return rev if self.commit_exists(rev) else None

    def commit_dir(self, sha: str) -> str:
        return os.path.join(self.dir, "commits", sha)

    def commit_date(self, sha: str) -> str:
        return self.commit_dates.get(sha, DEFAULT_DATE)

    # --- files -------------------------------------------------------------------
    def files(self, sha: str) -> list[str]:
        """All file paths of a commit, sorted."""
        root = self.commit_dir(sha)
        found = []
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames.sort()
            rel = os.path.relpath(dirpath, root)
            for fname in filenames:
                found.append(fname if rel == "." else f"{rel}/{fname}".replace(os.sep, "/"))
        return sorted(found)

    def is_dir(self, sha: str, path: str) -> bool:
        return os.path.isdir(os.path.join(self.commit_dir(sha), *path.split("/")) if path else self.commit_dir(sha))

    def meta(self, sha: str, path: str) -> FileMeta | None:
        """Metadata of one file of a commit, or None if there is no such file."""
        if not path:
            return None
        abs_path = os.path.join(self.commit_dir(sha), *path.split("/"))
        if not os.path.isfile(abs_path):
            return None
        generated = (self.config.get("generated") or {}).get(path)
        if generated is not None:
            # The file on disk is a placeholder; its bytes come from generated_chunks.
            seed, size = int(generated["seed"]), int(generated["size"])
            # A placeholder reading "seed+N" shifts the seed: a commit that
            # rewrites it changes that file's bytes (one changed shard).
            if os.path.getsize(abs_path) < 64:
                with open(abs_path, "rb") as f:
                    text = f.read().decode("ascii", "replace").strip()
                if text.startswith("seed+") and text[5:].isdigit():
                    seed += int(text[5:])
            sha1, sha256 = self._hashes.generated_hashes(path, seed, size)
            return FileMeta(path, abs_path, size, sha1, sha256, is_lfs(path, size, self.lfs_threshold), seed)
        size = os.path.getsize(abs_path)
        sha1, sha256 = self._hashes.hashes(abs_path)
        return FileMeta(path, abs_path, size, sha1, sha256, is_lfs(path, size, self.lfs_threshold))

    def tree_oids(self, sha: str) -> dict[str, str]:
        """Git tree ids of every directory of a commit ("" is the root)."""
        children: dict[str, list[tuple[str, bool, str]]] = {"": []}
        for path in self.files(sha):
            parts = path.split("/")
            for i in range(1, len(parts)):
                children.setdefault("/".join(parts[:i]), [])
            parent = "/".join(parts[:-1])
            children[parent].append((parts[-1], False, self.meta(sha, path).oid))
        oids: dict[str, str] = {}
        # Deepest directories first, so children are hashed before their parents.
        for directory in sorted(children, key=lambda d: d.count("/") if d else -1, reverse=True):
            if directory:
                parent, _, name = directory.rpartition("/")
                oids[directory] = git_tree_sha1(children[directory])
                children[parent].append((name, True, oids[directory]))
            else:
                oids[""] = git_tree_sha1(children[""])
        return oids


def load_repo(repos_root: str, kind: str, org: str, name: str, hashes: HashCache) -> Repo | None:
    """The repository at <repos_root>/<kind>/<org>/<name>, or None if absent."""
    if kind not in KINDS or not valid_segment(org) or not valid_segment(name):
        return None
    directory = os.path.join(repos_root, kind, org, name)
    if not os.path.isfile(os.path.join(directory, "refs.json")):
        return None
    return Repo(directory, kind, f"{org}/{name}", hashes)
