"""Files for bench/chaos: FILES CSV files, alternately for an append table (events) and a merge target (accounts),
written under OUT/pending/<pipeline>/ in the order they are to be dropped, with OUT/manifest.tsv (pipeline, file, rows)
and OUT/accounts.expected.tsv: what the merge target must hold once every file is merged, whatever the order of the
merges (each accounts file carries its number as the version column, so the newest file's row of an id wins).

    python3 gen.py OUT FILES MAX_ROWS KEYS
"""
import os
import random
import sys

out, files, max_rows, keys = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
random.seed(15)
for pipeline in ("events", "accounts"):
    os.makedirs(os.path.join(out, "pending", pipeline), exist_ok=True)
latest = {}  # id -> (version, balance)
with open(os.path.join(out, "manifest.tsv"), "w") as manifest:
    for k in range(1, files + 1):
        rows = random.randint(1, max_rows)
        if k % 2:
            name = f"e_{k:06d}.csv"
            lines = ["file,line,value"] + [f"{name},{i},{random.randint(0, 10**9)}" for i in range(1, rows + 1)]
            pipeline = "events"
        else:
            name = f"a_{k:06d}.csv"
            # one row per id: a key twice in one load is an integrity error by design
            ids = random.sample(range(1, keys + 1), min(rows, keys))
            lines = ["id,balance,version"]
            for i in ids:
                balance = f"{random.randint(0, 10**7)}.{random.randint(0, 99):02d}"
                lines.append(f"{i},{balance},{k}")
                latest[i] = (k, balance)
            rows = len(ids)
            pipeline = "accounts"
        with open(os.path.join(out, "pending", pipeline, name), "w") as f:
            f.write("\n".join(lines) + "\n")
        manifest.write(f"{pipeline}\t{name}\t{rows}\n")
with open(os.path.join(out, "accounts.expected.tsv"), "w") as f:
    for i in sorted(latest):
        version, balance = latest[i]
        f.write(f"{i}\t{balance}\t{version}\n")
