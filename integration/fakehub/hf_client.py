#!/usr/bin/env python3
"""Run one official huggingface_hub call and print its outcome as one JSON line.

    HF_ENDPOINT=http://127.0.0.1:P python3 hf_client.py '{"op": "snapshot_download", "kwargs": {...}}'

Prints {"ok": result} or {"error": {"type", "mro", "message", "status"}}. Run it in a fresh
process per call: huggingface_hub reads HF_ENDPOINT and friends once, at import time.
Ops: version, snapshot_download, hf_hub_download, list_repo_tree, model_info, dataset_info.
"""

import json
import sys


def _lfs(lfs) -> dict | None:
    if lfs is None:
        return None
    return {"sha256": lfs.sha256, "size": lfs.size, "pointer_size": lfs.pointer_size}


def _repo_info(info) -> dict:
    return {
        "id": info.id,
        "sha": info.sha,
        "private": info.private,
        "gated": info.gated,
        "siblings": [
            {"rfilename": s.rfilename, "size": s.size, "blob_id": s.blob_id, "lfs": _lfs(s.lfs)}
            for s in info.siblings or []
        ],
    }


def run(op: str, kwargs: dict):
    import huggingface_hub
    from huggingface_hub import HfApi, RepoFile

    if op == "version":
        return huggingface_hub.__version__
    if op == "snapshot_download":
        return huggingface_hub.snapshot_download(**kwargs)
    if op == "hf_hub_download":
        return huggingface_hub.hf_hub_download(**kwargs)
    if op == "list_repo_tree":
        return [
            {
                "type": "file" if isinstance(e, RepoFile) else "directory",
                "path": e.path,
                "size": getattr(e, "size", 0),
                "blob_id": e.blob_id if isinstance(e, RepoFile) else e.tree_id,
                "lfs": _lfs(getattr(e, "lfs", None)),
            }
            for e in HfApi().list_repo_tree(**kwargs)
        ]
    if op == "model_info":
        return _repo_info(HfApi().model_info(**kwargs))
    if op == "dataset_info":
        return _repo_info(HfApi().dataset_info(**kwargs))
    raise ValueError(f"unknown op {op!r}")


def main() -> int:
    request = json.loads(sys.argv[1])
    try:
        outcome = {"ok": run(request["op"], request.get("kwargs", {}))}
    except Exception as e:  # report any failure as data for the test to assert on
        response = getattr(e, "response", None)
        outcome = {
            "error": {
                "type": type(e).__name__,
                "mro": [c.__name__ for c in type(e).__mro__],
                "message": str(e),
                "status": getattr(response, "status_code", None),
            }
        }
    print(json.dumps(outcome))
    return 0


if __name__ == "__main__":
    sys.exit(main())
