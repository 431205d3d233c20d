#!/usr/bin/env python3
"""Helper of bench/mail/run.sh: makes the messages, sends them over SMTP, and checks what arrived.

  mail.py gen DIR N KB                 N messages m0001.eml.. in DIR, each a text body and a CSV attachment of KB KiB
                                       (base64), and DIR/manifest.tsv: name, Message-ID, attachment SHA-256
  mail.py send HOST PORT CONNS RCPT DIR  every DIR/*.eml to RCPT over CONNS SMTP connections at once (one thread each,
                                       many messages per connection); prints the seconds it took and the messages/s
  mail.py check-archive ARCHIVE DIR    each message of DIR/manifest.tsv archived exactly once (one folder per group),
                                       its attachment's SHA-256 equal to the one sent; prints how many were checked
  mail.py check-bare OUT DIR           the bare pipe's files: one per message, each attachment's SHA-256 equal to the one sent
"""
import base64
import email
import email.policy
import hashlib
import os
import queue
import smtplib
import sys
import threading
import time

SENDER = "nas1@sender.example"


def csv_bytes(n, kb):
    """A CSV of about KB KiB whose rows name message n, so every message's attachment is its own."""
    target = kb * 1024
    rows = [b"grid,node,metric,value,taken_at\n"]
    size = len(rows[0])
    i = 0
    while size < target:
        row = b"m%05d,node-%03d,capacity_used_pct,%d.%02d,2026-12-03T10:%02d:%02dZ\n" % (n, i % 200, (n * 7 + i) % 100, i % 100, (i // 60) % 60, i % 60)
        rows.append(row)
        size += len(row)
        i += 1
    return b"".join(rows)


def message(n, kb):
    name = "m%05d" % n
    data = csv_bytes(n, kb)
    b64 = base64.encodebytes(data)  # 76-character lines, as mailers send them
    boundary = "=_bench_%s" % name
    head = (
        f"From: Bench <{SENDER}>\r\n"
        f"To: <reports@bench.intake.test>\r\n"
        f"Subject: Bench report {name}\r\n"
        f"Message-ID: <{name}.bench@sender.example>\r\n"
        f"Date: Thu, 03 Dec 2026 10:00:00 +0000\r\n"
        f"MIME-Version: 1.0\r\n"
        f"Content-Type: multipart/mixed; boundary=\"{boundary}\"\r\n"
        f"\r\n"
        f"--{boundary}\r\n"
        f"Content-Type: text/plain; charset=utf-8\r\n"
        f"\r\n"
        f"Report of grid {name}: capacity figures attached.\r\n"
        f"--{boundary}\r\n"
        f"Content-Type: text/csv; name=\"{name}.csv\"\r\n"
        f"Content-Disposition: attachment; filename=\"{name}.csv\"\r\n"
        f"Content-Transfer-Encoding: base64\r\n"
        f"\r\n"
    ).encode()
    tail = f"--{boundary}--\r\n".encode()
    return name, head + b64.replace(b"\n", b"\r\n") + tail, hashlib.sha256(data).hexdigest()


def gen(folder, count, kb):
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, "manifest.tsv"), "w") as manifest:
        for n in range(1, count + 1):
            name, raw, sha = message(n, kb)
            with open(os.path.join(folder, name + ".eml"), "wb") as f:
                f.write(raw)
            manifest.write(f"{name}\t<{name}.bench@sender.example>\t{sha}\n")


def send(host, port, conns, rcpt, folder):
    # Read before the clock starts: the sender only writes bytes to sockets while it is timed.
    names = sorted(f for f in os.listdir(folder) if f.endswith(".eml"))
    todo = queue.Queue()
    for name in names:
        with open(os.path.join(folder, name), "rb") as f:
            todo.put(f.read())
    failures = []

    def worker():
        smtp = smtplib.SMTP(host, int(port), timeout=600)
        try:
            while True:
                try:
                    raw = todo.get_nowait()
                except queue.Empty:
                    return
                refused = smtp.sendmail(SENDER, [rcpt], raw)
                if refused:
                    failures.append(refused)
        except Exception as e:  # noqa: BLE001 - reported, and the run fails
            failures.append(repr(e))
        finally:
            try:
                smtp.quit()
            except Exception:  # noqa: BLE001
                pass

    threads = [threading.Thread(target=worker) for _ in range(int(conns))]
    t0 = time.time()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    took = time.time() - t0
    if failures:
        sys.exit(f"mail.py send: {len(failures)} failures, first: {failures[0]}")
    print(f"{took:.3f} {len(names) / took:.1f}")


def manifest(folder):
    with open(os.path.join(folder, "manifest.tsv")) as f:
        return {name: (mid, sha) for name, mid, sha in (line.rstrip("\n").split("\t") for line in f)}


def check_archive(archive, folder):
    sent = manifest(folder)
    seen = {}
    for root, _, files in os.walk(archive):
        if "message.eml" not in files:
            continue
        group = os.path.basename(os.path.dirname(root))
        seen.setdefault(group, []).append(root)
    problems = []
    for name, (_, sha) in sent.items():
        folders = seen.get(name, [])
        if len(folders) != 1:
            problems.append(f"{name}: {len(folders)} archive folders")
            continue
        path = os.path.join(folders[0], "attachments", name + ".csv")
        if not os.path.exists(path):
            problems.append(f"{name}: no {path}")
            continue
        with open(path, "rb") as f:
            got = hashlib.file_digest(f, "sha256").hexdigest()
        if got != sha:
            problems.append(f"{name}: attachment SHA-256 {got}, sent {sha}")
    extra = set(seen) - set(sent)
    if extra:
        problems.append(f"archive folders of groups never sent: {sorted(extra)[:5]}")
    if problems:
        sys.exit("mail.py check-archive: " + "; ".join(problems[:10]) + (f" (+{len(problems) - 10} more)" if len(problems) > 10 else ""))
    print(len(sent))


def check_bare(out, folder):
    sent = manifest(folder)
    by_id = {mid: (name, sha) for name, (mid, sha) in sent.items()}
    got = {}
    files = [f for f in os.listdir(out) if f.endswith(".eml")]
    for f in files:
        with open(os.path.join(out, f), "rb") as fh:
            msg = email.message_from_binary_file(fh, policy=email.policy.default)
        att = next(msg.iter_attachments())
        got.setdefault(msg["Message-ID"], []).append(hashlib.sha256(att.get_payload(decode=True)).hexdigest())
    problems = [f"{mid}: {len(got.get(mid, []))} copies" for mid in by_id if len(got.get(mid, [])) != 1]
    problems += [f"{mid}: SHA-256 differs" for mid, (_, sha) in by_id.items() if got.get(mid) == [got.get(mid, [None])[0]] and got[mid][0] != sha]
    if problems or len(files) != len(sent):
        sys.exit(f"mail.py check-bare: {len(files)} files for {len(sent)} messages; " + "; ".join(problems[:10]))
    print(len(sent))


if __name__ == "__main__":
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "gen":
        gen(args[0], int(args[1]), int(args[2]))
    elif cmd == "send":
        send(*args)
    elif cmd == "check-archive":
        check_archive(*args)
    elif cmd == "check-bare":
        check_bare(*args)
    else:
        sys.exit(__doc__)
