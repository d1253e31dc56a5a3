"""SIGTERM while a replay runs in real time: the agent exits within 10 s and no finished read is lost.

The city's ingest is down while the device runs (it subscribed once, so the broker keeps its session); it comes
back after the device has stopped and must still receive every read finished before the signal.
"""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

from edge_agent.local.localcity import IngestProcess, LocalCity

from .conftest import agent_command, agent_env, log_tail, stored_reads, truth, wait_for, write_device_config

FIXTURE = "two_vehicles"
MAX_GAP = 1.0  # tracker.max_gap: a pass ends this long after its plate was last seen


def start_agent(config: Path, log: Path) -> subprocess.Popen[bytes]:
    """`edge-agent run` on a real-time replay, once it says it is running (its output in `log`)."""
    with open(log, "wb") as out:
        proc = subprocess.Popen(agent_command(config, fast=False), env=agent_env(), stdout=out, stderr=out)
    if not wait_for(lambda: b" running as " in log.read_bytes(), 60):
        proc.kill()
        proc.wait()
        raise AssertionError(log_tail(log))
    return proc


def test_sigterm_after_first_vehicle_left(tmp_path: Path, shipped_models: None) -> None:
    t = truth(FIXTURE)
    plates = sorted((p for p in t["plates"] if not p["private"]), key=lambda p: p["exit_s"])
    first = plates[0]
    city = LocalCity(tmp_path / "city", ["sigterm"])
    city.broker.start()
    ingest = IngestProcess(city, tmp_path / "ingest.yaml")
    ingest.stop()
    config = write_device_config(city, "sigterm", FIXTURE, tmp_path / "device.yaml", realtime=True)
    log = tmp_path / "agent.log"
    proc: subprocess.Popen[bytes] | None = None
    try:
        proc = start_agent(config, log)
        started = time.monotonic()
        # The first vehicle has left and its pass has ended; the second is still in the picture.
        time.sleep(max(0.0, started + first["exit_s"] + MAX_GAP + 1.0 - time.monotonic()))
        assert proc.poll() is None, "the replay ended before the signal: " + log_tail(log)
        signalled = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=10)
        took = time.monotonic() - signalled
        assert code == 0, log_tail(log)
        assert took < 10.0

        ingest.start()
        db = tmp_path / "city" / "city" / "reads.db"
        assert wait_for(lambda: first["text"] in {r.plate for r in stored_reads(db, "sigterm")}, 30), log_tail(log)
        stored = [r.plate for r in stored_reads(db, "sigterm")]
        assert len(stored) == len(set(stored)), "a read was stored twice"
        assert set(stored) <= {p["text"] for p in plates}, f"unexpected reads {stored}"
    finally:
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait()
        ingest.stop()
        city.broker.stop()


def test_a_second_agent_on_the_same_spool_refuses_to_start(tmp_path: Path, shipped_models: None) -> None:
    # Two daemons on one spool took over each other's MQTT session until one died of a negative queue length.
    city = LocalCity(tmp_path / "city", ["twice"])
    city.broker.start()
    config = write_device_config(city, "twice", FIXTURE, tmp_path / "device.yaml", realtime=True)
    log = tmp_path / "agent.log"
    first: subprocess.Popen[bytes] | None = None
    try:
        first = start_agent(config, log)
        second = subprocess.run(
            agent_command(config, fast=False), check=False, env=agent_env(), capture_output=True, timeout=60
        )
        assert second.returncode == 2, second.stderr.decode()
        message = second.stderr.decode().strip().splitlines()[-1]
        assert f"another edge-agent (pid {first.pid}) is running on" in message
        assert "Traceback" not in second.stderr.decode()
        assert first.poll() is None, "the first agent must go on: " + log_tail(log)
    finally:
        if first is not None and first.poll() is None:
            first.send_signal(signal.SIGTERM)
            first.wait(timeout=15)
        city.broker.stop()
