"""The split's leakage check after dedup: a fresh search of every record vs dedup's reused one.

    python bench/split_reuse.py --input /tmp/curate-bench/chat-100000-1.jsonl

Reads the file as `curate run` would (chat records), embeds it with the default static model
(through the embedding cache: set CURATE_CACHE_DIR), dedups it (exact, near, semantic), then
splits the kept records twice in this process, back to back: once as before (semantic leakage
check searching every test record against train) and once given dedup's ``SemanticCheck``.
Prints CPU seconds of each split, how many records dedup left unsettled, and whether the two
splits are identical (same sides, same report).
"""

from __future__ import annotations

import argparse
import cProfile
import time

from curate.dedup import DedupConfig, dedup, key_text
from curate.embed import embed_records
from curate.reader import read_chat
from curate.split import SplitConfig, split_records


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--input", required=True)
    ap.add_argument("--rows", type=int, default=0, help="first N records only (0: all)")
    ap.add_argument("--profile", help="write a cProfile of the reused split here")
    args = ap.parse_args()
    records = list(read_chat(args.input, detect="record", on_bad="reject", on_drop=lambda d: None))
    if args.rows:
        records = records[: args.rows]
    cfg = DedupConfig(methods=("exact", "near", "semantic"), model="fast")
    vecs = embed_records(records, lambda r: key_text(r, cfg.key), "fast", None, False)
    t0 = time.process_time()
    res = dedup(records, cfg, embeddings=vecs)
    t_dedup = time.process_time() - t0
    rows = res.kept_rows
    kept, kv, check = res.result.kept, vecs[rows], res.semantic.subset(rows)
    feats = res.features.subset(rows)  # as in `curate run`: the split hashes nothing again
    scfg = SplitConfig(keep_duplicates_together=False)
    t0 = time.process_time()
    fresh = split_records(kept, scfg, embeddings=kv, dedup_config=cfg, features=feats)
    t_fresh = time.process_time() - t0
    prof = cProfile.Profile() if args.profile else None
    if prof:
        prof.enable()
    t0 = time.process_time()
    reused = split_records(
        kept, scfg, embeddings=kv, dedup_config=cfg, features=feats, semantic=check
    )
    t_reused = time.process_time() - t0
    if prof:
        prof.disable()
        prof.dump_stats(args.profile)
    same = fresh.report() == reused.report() and {
        k: [r.line for r in v] for k, v in fresh.splits.items()
    } == {k: [r.line for r in v] for k, v in reused.splits.items()}
    print(f"records {len(records):,}, kept {len(kept):,}, dedup {t_dedup:.1f} CPU s")
    print(f"unsettled by dedup's search (rechecked): {int(check.recheck.sum()):,}")
    print(f"split, fresh semantic search : {t_fresh:7.1f} CPU s  leakage {fresh.leakage}")
    print(f"split, dedup's search reused : {t_reused:7.1f} CPU s  leakage {reused.leakage}")
    print(f"fresh / reused {t_fresh / max(t_reused, 1e-9):.2f}x; identical splits: {same}")


if __name__ == "__main__":
    main()
