"""Deterministic Cubic ODS data for bench/cubic/run.sh.

  python3 gen.py OUT TABLES KEYS FILES ROWS

Writes, under OUT/cubic/ods_qlik/:
  T00/LOAD00000001.csv.gz ... a snapshot of KEYS rows per table (ids 1..KEYS);
  T00__ct/<yyyyMMdd-HHmmssSSS>.csv.gz ... FILES change files in all, dealt round-robin over the tables, ROWS rows
  each: inserts of new ids, updates and deletes of live ones, a before-image (B) ahead of some updates, and ids that
  change more than once in a file; header__change_seq is a 20-digit counter per table, rising with the file names.
and OUT/expected.txt: per table the number of live rows after every change, to check both results against.
"""
import gzip
import os
import random
import sys
from datetime import datetime, timedelta

out, tables, keys, files, rows = sys.argv[1], *map(int, sys.argv[2:6])
rnd = random.Random(12)
cities = ["Boston", "Quincy", "Cambridge", "Somerville", "Lynn", "Salem", "Braintree", "Malden"]
columns = "id,name,amount,city,updated_at"
start = datetime(2022, 3, 4, 13, 0, 0)


def row(i, version):
    return f"{i},rider {i} v{version},{rnd.randint(100, 999999) / 100:.2f},{rnd.choice(cities)},2022-03-04 13:{version % 60:02d}:00"


def write(path, lines):
    with gzip.open(path, "wt", compresslevel=1, newline="") as f:
        f.write("\n".join(lines))
        f.write("\n")


live, seq, next_id = [], [], []
for t in range(tables):
    base = f"{out}/cubic/ods_qlik/T{t:02d}"
    os.makedirs(base, exist_ok=True)
    os.makedirs(base + "__ct", exist_ok=True)
    write(f"{base}/LOAD00000001.csv.gz", [columns] + [row(i, 0) for i in range(1, keys + 1)])
    live.append(set(range(1, keys + 1)))
    seq.append(0)
    next_id.append(keys + 1)

header = "header__change_seq,header__change_oper,header__timestamp," + columns
for f in range(files):
    t = f % tables
    ids = live[t]
    lines = [header]
    version = f // tables + 1
    while len(lines) - 1 < rows:
        op = rnd.random()
        i = rnd.randint(1, next_id[t] - 1)
        if op < 0.25 or not ids:  # insert a new id
            i = next_id[t]
            next_id[t] += 1
            ids.add(i)
            kind = "I"
        elif i not in ids:  # a deleted id: draw again
            continue
        elif op < 0.35:
            ids.discard(i)
            kind = "D"
        else:
            kind = "U"
            if op < 0.65 and len(lines) < rows:  # half the updates come after their before-image
                seq[t] += 1
                lines.append(f"{seq[t]:020d},B,2022-03-04 13:00:00.000,{i},old,,,")
        seq[t] += 1
        data = f"{i},,,," if kind == "D" else row(i, version)
        lines.append(f"{seq[t]:020d},{kind},2022-03-04 13:00:00.000,{data}")
    name = (start + timedelta(seconds=f)).strftime("%Y%m%d-%H%M%S") + "000"
    write(f"{out}/cubic/ods_qlik/T{t:02d}__ct/{name}.csv.gz", lines)

with open(f"{out}/expected.txt", "w") as e:
    for t in range(tables):
        e.write(f"cubic__ods_qlik__t{t:02d} {len(live[t])}\n")
