#!/usr/bin/env python3
"""Backups and restores of the embedded SQLite files (`make run`'s defaults: .fluentedge/).

  sqlite.py dump [--data DIR]          each *.db in DIR (default .fluentedge) to BACKUP_DIR
  sqlite.py restore FILE [--data DIR]  put a backup back as DIR/<name>.db (the service stopped)

What is backed up: conversation.db (sessions, messages), usage.db (the ledger) and
router-outbox.db (usage records not yet delivered). A dump uses SQLite's online backup API, so
it is consistent while the services run (WAL included), is checked with `PRAGMA
integrity_check`, and is written under a temporary name first: a failed dump never leaves a file
that looks complete. Files are named <name>_<UTC time>.db in BACKUP_DIR (default backups).

A restore refuses a file that fails the integrity check, copies it in with the same API, and
removes the old -wal/-shm files, which belong to the replaced database. Stop the service that
owns the file first (Ctrl-C `make run`): a running service keeps writing to the old one.
"""
import argparse
import datetime
import os
import pathlib
import re
import sqlite3
import sys


def log(msg):
    print(msg, file=sys.stderr)


def check(path):
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
        result = db.execute("PRAGMA integrity_check").fetchone()[0]
    if result != "ok":
        raise SystemExit(f"error: {path} fails the integrity check: {result}")


def copy(src, dst):
    """SQLite's backup API: a consistent copy even while writers run."""
    with sqlite3.connect(f"file:{src}?mode=ro", uri=True) as source, sqlite3.connect(dst) as target:
        source.backup(target)


def dump(data, out):
    files = sorted(data.glob("*.db"))
    if not files:
        raise SystemExit(f"error: no SQLite files (*.db) in {data}: nothing to back up")
    out.mkdir(parents=True, exist_ok=True)
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    for f in files:
        final = out / f"{f.stem}_{stamp}.db"
        partial = final.with_name(final.name + ".partial")
        partial.unlink(missing_ok=True)
        copy(f, partial)
        check(partial)
        partial.rename(final)
        log(f"{f} -> {final} ({final.stat().st_size} bytes, integrity ok)")


def restore(file, data):
    match = re.fullmatch(r"(.+)_\d{8}T\d{6}Z\.db", file.name)
    if not match:
        raise SystemExit(f"error: {file.name} is not a backup name (<name>_<UTC time>.db)")
    check(file)
    data.mkdir(parents=True, exist_ok=True)
    target = data / f"{match.group(1)}.db"
    for suffix in ("-wal", "-shm"):
        pathlib.Path(f"{target}{suffix}").unlink(missing_ok=True)
    partial = target.with_name(target.name + ".restoring")
    partial.unlink(missing_ok=True)
    copy(file, partial)
    os.replace(partial, target)
    log(f"{file} -> {target}")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=["dump", "restore"])
    parser.add_argument("file", nargs="?")
    parser.add_argument("--data", default=os.environ.get("FLUENTEDGE_DATA", ".fluentedge"))
    args = parser.parse_args()
    data = pathlib.Path(args.data)
    out = pathlib.Path(os.environ.get("BACKUP_DIR", "backups"))
    if args.command == "dump":
        dump(data, out)
    elif not args.file:
        parser.error("restore needs a FILE")
    else:
        restore(pathlib.Path(args.file), data)


if __name__ == "__main__":
    main()
