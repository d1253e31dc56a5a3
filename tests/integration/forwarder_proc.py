"""A device-side process for crash tests: makes synthetic reads, commits them, uplinks them.

    python -m tests.integration.forwarder_proc CONFIG IDS_FILE TOTAL RATE

Each read id is appended to IDS_FILE only after `Spool.put()` returned, i.e. once committed; the test then
checks that every id in the file reached the ingest, however often this process was SIGKILLed. Generation
stops at TOTAL committed reads (counted across restarts); the process exits when its spool is empty.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from edge_agent.configfile import load_config
from edge_agent.device.spool import Spool
from edge_agent.device.uplink import Uplink
from edge_agent.protocol.crypto.envelope import sealer_for, verifier_for
from edge_agent.protocol.reads import PlateRead, new_read_id


def main() -> int:
    config, ids_file, total, rate = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
    cfg = load_config(config)
    assert cfg.device.id is not None
    spool = Spool(cfg.spool_path, commit_interval=0.005)
    uplink = Uplink(cfg.uplink, cfg.device.id, spool, verifier_for(cfg))
    uplink.start()
    sealer = sealer_for(cfg)
    done = len(ids_file.read_text().split()) if ids_file.exists() else 0
    with open(ids_file, "a") as out:
        while done < total:
            now = time.time()
            read = PlateRead(new_read_id(), cfg.device.id, "cam", f"KIL{done:04d}", 0.9, now, now, 3)
            seq = spool.reserve_seq()
            spool.put(read.read_id, sealer.seal(read, seq), seq)
            out.write(read.read_id.hex() + "\n")
            out.flush()
            os.fsync(out.fileno())
            done += 1
            time.sleep(1.0 / rate)
    while len(spool):
        time.sleep(0.05)
    uplink.stop()
    spool.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
