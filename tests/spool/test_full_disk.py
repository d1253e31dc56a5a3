"""A disk filled by something else: acknowledged reads still leave the spool, and the spool says the disk is full.

The spool lies on a real 12 MiB tmpfs in a private mount namespace (`unshare --mount`, which needs root or
CAP_SYS_ADMIN; the test says so and skips elsewhere), filled to the last byte by another file.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

SCRIPT = textwrap.dedent(
    """
    import errno, json, logging, os, sys
    from edge_agent.device.spool import Spool
    from edge_agent.errors import SpoolError

    root = sys.argv[1]
    notes = []
    handler = logging.Handler()
    handler.emit = lambda record: notes.append(record.getMessage())
    logging.getLogger("edge_agent").addHandler(handler)

    def fill():  # another program takes every free byte
        with open(os.path.join(root, "filler"), "ab", buffering=0) as fh:
            try:
                while True:
                    fh.write(b"\\0" * 4096)
            except OSError as exc:
                return errno.errorcode[exc.errno]

    spool = Spool(os.path.join(root, "spool.db"), max_bytes=64 * 2**20)
    ids = [i.to_bytes(16, "big") for i in range(300)]
    spool.put_many([(rid, os.urandom(4096), spool.reserve_seq()) for rid in ids])
    out = {"reserve_at_start": os.path.getsize(spool.reserve_path), "full_at_start": spool.disk_full}
    out["filler_stopped"] = fill()
    try:
        spool.put_many([(b"n" * 16, os.urandom(4096), spool.reserve_seq())])
        out["new_read"] = "stored"
    except SpoolError as exc:
        out["new_read"] = str(exc)
    fill()
    out["free_before_delete"] = os.statvfs(root).f_bavail
    out["deleted_while_full"] = spool.delete(ids[:250])
    out["released_for_delete"] = sum("released the spool's reserve" in n for n in notes)
    out["full_after_delete"] = spool.disk_full
    fill()
    spool.mark_sent(ids[250:280])
    out["full_after_mark"] = spool.disk_full
    out["depth_while_full"] = len(spool)
    os.remove(os.path.join(root, "filler"))
    out["deleted_after_room"] = spool.delete(ids[250:])
    out["full_at_end"] = spool.disk_full
    out["reserve_at_end"] = os.path.getsize(spool.reserve_path)
    out["depth_at_end"] = len(spool)
    spool.close()
    fill()  # a restart on a disk with no room at all: the reserve makes the room to open the spool
    again = Spool(os.path.join(root, "spool.db"), max_bytes=64 * 2**20)
    out["reopened_depth"] = len(again)
    out["reopened_full"] = again.disk_full
    again.close()
    print(json.dumps(out))
    """
)


def test_acknowledged_reads_leave_a_spool_on_a_full_disk(tmp_path: Path) -> None:
    unshare = shutil.which("unshare")
    mount_point = tmp_path / "disk"
    mount_point.mkdir()
    probe = subprocess.run(
        [unshare or "unshare", "--mount", "sh", "-c", f"mount -t tmpfs -o size=12m tmpfs {mount_point}"],
        capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip
    if unshare is None or probe.returncode != 0:
        pytest.skip(f"needs root (or CAP_SYS_ADMIN) for a private tmpfs: {probe.stderr.strip()}")
    script = tmp_path / "full_disk.py"
    script.write_text(SCRIPT)
    done = subprocess.run(
        [unshare, "--mount", "sh", "-c",
         f"mount -t tmpfs -o size=12m tmpfs {mount_point} && exec {sys.executable} {script} {mount_point}"],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert out["reserve_at_start"] == 4 * 2**20 and out["full_at_start"] is False
    assert out["filler_stopped"] == "ENOSPC" and out["free_before_delete"] == 0
    # The disk is full: a receipt's deletes still go through (the reserve pays for them) ...
    assert out["deleted_while_full"] == 250 and out["released_for_delete"] == 1
    assert out["full_after_delete"] is True  # the reserve is not taken back from a disk that is still full
    # ... the bookkeeping of reads in flight goes on, and while the reserve is spent the spool says the disk is full.
    assert out["full_after_mark"] is True
    assert out["depth_while_full"] in (50, 51)  # 51 when the new read found room
    # With room again, the rest leaves and the reserve comes back.
    assert out["deleted_after_room"] == 50
    assert out["full_at_end"] is False and out["reserve_at_end"] == 4 * 2**20
    assert out["depth_at_end"] == out["depth_while_full"] - 50
    assert out["reopened_depth"] == out["depth_at_end"] and out["reopened_full"] is True
