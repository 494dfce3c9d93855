"""The bench repo of the opt-in benches (branch-bench.sh, stream-bench.sh,
disk-bench.sh): writes its files spec for `make_repo.py create --files-json`
and prints its repo.json config, whose shards the fake Hub generates from a
seed instead of storing them.

    bench_repo.py SPEC SHARDS SHARD_MB NONCE LABEL [--card-only]

SHARDS safetensors shards of SHARD_MB MiB each, seeded from NONCE (so no
run finds another's bytes in a cache), beside a config.json naming
LABEL (`<Label>BenchForCausalLM`), a README.md and, without --card-only,
tokenizer.json and generation_config.json.
"""
import argparse
import hashlib
import json


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("spec")
    p.add_argument("shards", type=int)
    p.add_argument("shard_mb", type=int)
    p.add_argument("nonce")
    p.add_argument("label")
    p.add_argument("--card-only", action="store_true", help="config.json and README.md as the only small files")
    a = p.parse_args()
    arch = f"{a.label.capitalize()}BenchForCausalLM"
    files = {"config.json": {"text": json.dumps({"architectures": [arch], "torch_dtype": "bfloat16", "nonce": a.nonce})},
             "README.md": {"text": f"# {a.label} bench {a.nonce}\n"}}
    if not a.card_only:
        files["tokenizer.json"] = {"text": json.dumps({"nonce": a.nonce})}
        files["generation_config.json"] = {"text": "{}"}
    generated = {}
    seed = int(hashlib.sha256(a.nonce.encode()).hexdigest()[:8], 16)
    for i in range(a.shards):
        name = f"model-{i + 1:05d}-of-{a.shards:05d}.safetensors"
        files[name] = {"text": "seed+0"}
        generated[name] = {"size": a.shard_mb << 20, "seed": seed + 10 * i}
    with open(a.spec, "w") as f:
        json.dump(files, f)
    print(json.dumps({"generated": generated}))


if __name__ == "__main__":
    main()
