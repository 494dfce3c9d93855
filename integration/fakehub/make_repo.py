#!/usr/bin/env python3
"""Create and update repositories for the fake Hub (see README.md for the layout).

Python API:
    create_repo(repos, "org/name", {"config.json": "{}", "w.bin": b"..."}, kind="models", config={...})
    add_commit(repos, "org/name", {"config.json": "{...}", "old.txt": None}, branch="main")
    set_ref(repos, "org/name", "refs/pr/1", sha)            # or tag=True
    update_config(repos, "org/name", gated="manual", tokens=["hf_x"])

File contents may be bytes, str (UTF-8), None (delete, in add_commit) or a spec dict:
    {"text": "..."} | {"base64": "..."} | {"random": N, "seed": S} | {"file": "/path/on/disk"}

CLI (prints a JSON object with the commit sha):
    make_repo.py --repos DIR create org/name [--kind datasets] [--branch main]
                 [--files JSON | --files-json FILE|- | --files-dir DIR] [--config JSON]
    make_repo.py --repos DIR commit org/name [--branch B] [--parent REV] [--files ...]
    make_repo.py --repos DIR ref org/name REF REV [--tag]
    make_repo.py --repos DIR config org/name JSON
"""

from __future__ import annotations

import argparse
import base64
import datetime
import hashlib
import json
import os
import random
import shutil
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from hubdata import (  # noqa: E402
    COMMIT_RE,
    DEFAULT_BRANCH,
    KINDS,
    clean_repo_path,
    git_blob_sha1,
    read_json,
    repo_dir,
    write_json_atomic,
)

BASE_DATE = datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc)


def normalize_kind(kind: str) -> str:
    plural = kind if kind.endswith("s") else kind + "s"
    if plural not in KINDS:
        raise ValueError(f"unknown repo kind {kind!r}; use one of {KINDS}")
    return plural


def content_bytes(spec) -> bytes:
    """Turn a content spec (bytes, str or spec dict) into bytes."""
    if isinstance(spec, bytes):
        return spec
    if isinstance(spec, str):
        return spec.encode("utf-8")
    if isinstance(spec, dict):
        if "text" in spec:
            return spec["text"].encode("utf-8")
        if "base64" in spec:
            return base64.b64decode(spec["base64"])
        if "random" in spec:
            # Deterministic pseudo-random bytes: handy for big LFS files.
            return random.Random(spec.get("seed", 0)).randbytes(int(spec["random"]))
        if "file" in spec:
            with open(spec["file"], "rb") as f:
                return f.read()
    raise ValueError(f"unsupported content spec: {spec!r}")


def _refs_path(directory: str) -> str:
    return os.path.join(directory, "refs.json")


def _load_refs(directory: str) -> dict:
    refs = read_json(_refs_path(directory), {})
    for key in ("branches", "tags", "commit_dates"):
        refs.setdefault(key, {})
    return refs


def _resolve(refs: dict, directory: str, rev: str) -> str:
    for table in (refs["branches"], refs["tags"]):
        if rev in table:
            return table[rev]
    if COMMIT_RE.match(rev) and os.path.isdir(os.path.join(directory, "commits", rev)):
        return rev
    raise KeyError(f"unknown revision {rev!r} in {directory}")


def _link_or_copy(src: str, dst: str) -> None:
    # Hard links are safe: files in a commit are never modified in place (see _write_file).
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def _write_file(tree: str, path: str, data: bytes) -> None:
    target = os.path.join(tree, *path.split("/"))
    os.makedirs(os.path.dirname(target), exist_ok=True)
    if os.path.lexists(target):
        os.unlink(target)  # break a hard link shared with the parent commit
    with open(target, "wb") as f:
        f.write(data)


def _delete_file(tree: str, path: str) -> None:
    target = os.path.join(tree, *path.split("/"))
    if os.path.lexists(target):
        os.unlink(target)
    # Drop directories left empty, up to the tree root.
    parent = os.path.dirname(target)
    while parent != tree and os.path.isdir(parent) and not os.listdir(parent):
        os.rmdir(parent)
        parent = os.path.dirname(parent)


def _tree_digest(tree: str) -> str:
    """A digest of a whole file tree (paths and git blob ids)."""
    h = hashlib.sha1()
    for dirpath, dirnames, filenames in os.walk(tree):
        dirnames.sort()
        for fname in sorted(filenames):
            abs_path = os.path.join(dirpath, fname)
            rel = os.path.relpath(abs_path, tree).replace(os.sep, "/")
            with open(abs_path, "rb") as f:
                h.update(f"{rel}\0{git_blob_sha1(f.read())}\n".encode())
    return h.hexdigest()


def _commit(directory: str, parent_sha: str | None, changes: dict, date: str | None, message: str) -> tuple[str, str]:
    """Build a new commit tree from the parent's tree plus changes; returns (sha, date)."""
    commits_dir = os.path.join(directory, "commits")
    os.makedirs(commits_dir, exist_ok=True)
    refs = _load_refs(directory)
    # Staged under a non-40-hex name so the server never sees a half-written commit.
    tmp = tempfile.mkdtemp(prefix=".staging-", dir=commits_dir)
    try:
        tree = os.path.join(tmp, "tree")
        if parent_sha:
            shutil.copytree(os.path.join(commits_dir, parent_sha), tree, copy_function=_link_or_copy)
        else:
            os.makedirs(tree)
        for raw_path, spec in changes.items():
            path = clean_repo_path(raw_path)
            if not path:
                raise ValueError(f"invalid path in repo: {raw_path!r}")
            if spec is None:
                _delete_file(tree, path)
            else:
                _write_file(tree, path, content_bytes(spec))
        if date is None:
            # Deterministic, strictly increasing dates: one minute per commit.
            when = BASE_DATE + datetime.timedelta(minutes=len(refs["commit_dates"]))
            date = when.strftime("%Y-%m-%dT%H:%M:%S.000Z")
        seed = f"tree {_tree_digest(tree)}\nparent {parent_sha or ''}\ndate {date}\n\n{message}\n"
        sha = hashlib.sha1(seed.encode()).hexdigest()
        final = os.path.join(commits_dir, sha)
        if not os.path.isdir(final):
            os.rename(tree, final)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return sha, date


def _store_ref(directory: str, table: str, name: str, sha: str, date: str | None = None) -> None:
    refs = _load_refs(directory)
    refs[table][name] = sha
    if date is not None:
        refs["commit_dates"].setdefault(sha, date)
    write_json_atomic(_refs_path(directory), refs)


def create_repo(
    repos_root: str,
    repo_id: str,
    files: dict,
    *,
    kind: str = "models",
    branch: str = DEFAULT_BRANCH,
    config: dict | None = None,
    date: str | None = None,
    message: str = "Initial commit",
) -> str:
    """Create (or reset) a repository with one commit on `branch`; returns the commit sha."""
    directory = repo_dir(repos_root, normalize_kind(kind), repo_id)
    if os.path.isdir(directory):
        shutil.rmtree(directory)
    os.makedirs(directory)
    if config:
        write_json_atomic(os.path.join(directory, "repo.json"), config)
    sha, date = _commit(directory, None, files, date, message)
    _store_ref(directory, "branches", branch, sha, date)
    return sha


def add_commit(
    repos_root: str,
    repo_id: str,
    changes: dict,
    *,
    kind: str = "models",
    branch: str = DEFAULT_BRANCH,
    parent: str | None = None,
    date: str | None = None,
    message: str = "Update files",
) -> str:
    """Add a commit on `branch` (created if missing) and move the branch to it.

    The new tree is a copy of `parent` (a revision; defaults to the branch head, or an empty
    tree for a new branch) with `changes` applied; a None value deletes that path.
    """
    directory = repo_dir(repos_root, normalize_kind(kind), repo_id)
    refs = _load_refs(directory)
    if parent is None:
        parent_sha = refs["branches"].get(branch)
    else:
        parent_sha = _resolve(refs, directory, parent)
    sha, date = _commit(directory, parent_sha, changes, date, message)
    _store_ref(directory, "branches", branch, sha, date)
    return sha


def set_ref(repos_root: str, repo_id: str, ref: str, rev: str, *, kind: str = "models", tag: bool = False) -> str:
    """Point a branch (or tag) at an existing revision; returns the commit sha."""
    directory = repo_dir(repos_root, normalize_kind(kind), repo_id)
    sha = _resolve(_load_refs(directory), directory, rev)
    _store_ref(directory, "tags" if tag else "branches", ref, sha)
    return sha


def update_config(repos_root: str, repo_id: str, *, kind: str = "models", **settings) -> dict:
    """Merge settings into repo.json (a None value removes the key); returns the result."""
    path = os.path.join(repo_dir(repos_root, normalize_kind(kind), repo_id), "repo.json")
    config = read_json(path, {})
    for key, value in settings.items():
        if value is None:
            config.pop(key, None)
        else:
            config[key] = value
    write_json_atomic(path, config)
    return config


# --- CLI -----------------------------------------------------------------------------


def _files_from_args(args) -> dict:
    if args.files is not None:
        return json.loads(args.files)
    if args.files_json is not None:
        if args.files_json == "-":
            return json.load(sys.stdin)
        with open(args.files_json, encoding="utf-8") as f:
            return json.load(f)
    if args.files_dir is not None:
        files = {}
        for dirpath, _, filenames in os.walk(args.files_dir):
            for fname in filenames:
                abs_path = os.path.join(dirpath, fname)
                rel = os.path.relpath(abs_path, args.files_dir).replace(os.sep, "/")
                files[rel] = {"file": abs_path}
        return files
    return {}


def _add_files_options(parser) -> None:
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--files", help='inline JSON {"path": content-spec}')
    group.add_argument("--files-json", help="JSON file (or - for stdin) {path: content-spec}")
    group.add_argument("--files-dir", help="directory whose files are added as they are")
    parser.add_argument("--branch", default=DEFAULT_BRANCH)
    parser.add_argument("--date", help="commit date, e.g. 2026-01-02T03:04:05.000Z")
    parser.add_argument("--message", default="Update files")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    # --repos and --kind may be given before or after the sub-command.
    parser.add_argument("--repos", help="root directory of the fake Hub's repositories")
    parser.add_argument("--kind", default="models", help="models or datasets")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--repos", default=argparse.SUPPRESS)
    common.add_argument("--kind", default=argparse.SUPPRESS)
    sub = parser.add_subparsers(dest="command", required=True)

    p_create = sub.add_parser("create", parents=[common], help="create (or reset) a repository")
    p_create.add_argument("repo_id")
    p_create.add_argument("--config", help="repo.json settings as JSON")
    _add_files_options(p_create)

    p_commit = sub.add_parser("commit", parents=[common], help="add a commit moving a branch")
    p_commit.add_argument("repo_id")
    p_commit.add_argument("--parent", help="revision to start from (default: the branch head)")
    _add_files_options(p_commit)

    p_ref = sub.add_parser("ref", parents=[common], help="point a branch or tag at a revision")
    p_ref.add_argument("repo_id")
    p_ref.add_argument("ref")
    p_ref.add_argument("rev")
    p_ref.add_argument("--tag", action="store_true")

    p_config = sub.add_parser("config", parents=[common], help="merge settings into repo.json")
    p_config.add_argument("repo_id")
    p_config.add_argument("settings", help="JSON object; null removes a key")

    args = parser.parse_args(argv)
    if not args.repos:
        parser.error("--repos is required")
    kind = normalize_kind(args.kind)
    result: dict = {"repo": args.repo_id, "kind": kind}
    if args.command == "create":
        config = json.loads(args.config) if args.config else None
        result["commit"] = create_repo(
            args.repos, args.repo_id, _files_from_args(args), kind=kind, branch=args.branch,
            config=config, date=args.date, message=args.message,
        )
        result["branch"] = args.branch
    elif args.command == "commit":
        result["commit"] = add_commit(
            args.repos, args.repo_id, _files_from_args(args), kind=kind, branch=args.branch,
            parent=args.parent, date=args.date, message=args.message,
        )
        result["branch"] = args.branch
    elif args.command == "ref":
        result["commit"] = set_ref(args.repos, args.repo_id, args.ref, args.rev, kind=kind, tag=args.tag)
    else:
        result["config"] = update_config(args.repos, args.repo_id, kind=kind, **json.loads(args.settings))
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
