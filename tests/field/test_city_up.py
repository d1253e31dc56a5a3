"""`city init` writes a broker configuration that starts as it is, and `city up` runs broker and ingest."""

from __future__ import annotations

import getpass
import ipaddress
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from cryptography import x509

from edge_agent.field.enroll import CityDir
from edge_agent.local.localbroker import free_port
from edge_agent.protocol.crypto.pki import load_cert
from edge_agent.protocol.mqtt import new_client, tls_context


def test_init_then_up_from_an_empty_directory(tmp_path: Path) -> None:
    port = free_port()
    root = tmp_path / "city"
    # The broker drops to the test's own account here (a Debian server uses the default, mosquitto).
    init = subprocess.run(
        [sys.executable, "-m", "edge_agent", "city", "init", str(root), "--broker-host", "localhost",
         "--broker-host", "127.0.0.1", "--broker-port", str(port), "--broker-user", getpass.getuser()],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert init.returncode == 0, init.stderr
    conf = (root / "broker" / "mosquitto.conf").read_text()
    for text in (conf, (root / "broker" / "acl").read_text()):
        assert not [line for line in text.splitlines() if "$" in line and not line.startswith("#")]
    assert f"listener {port}" in conf
    sans = load_cert(root / "broker" / "broker.pem").extensions.get_extension_for_class(x509.SubjectAlternativeName)
    assert sans.value.get_values_for_type(x509.DNSName) == ["localhost"]
    assert sans.value.get_values_for_type(x509.IPAddress) == [ipaddress.ip_address("127.0.0.1")]

    log = tmp_path / "up.log"
    with open(log, "wb") as out:
        up = subprocess.Popen([sys.executable, "-m", "edge_agent", "city", "up", str(root)], stdout=out, stderr=out)
    try:
        deadline = time.monotonic() + 30
        while b"subscribed to" not in log.read_bytes() and time.monotonic() < deadline:
            assert up.poll() is None, log.read_text()
            time.sleep(0.1)
        assert b"subscribed to" in log.read_bytes(), log.read_text()
        # The monitor identity connects over the second name in the certificate.
        pki = CityDir(root).local_pki()
        assert pki.monitor is not None
        client, props = new_client("monitor-test", tls_context(pki.ca_cert, pki.monitor.cert, pki.monitor.key))
        connected = threading.Event()
        client.on_connect = lambda *a: connected.set()
        client.tls_insecure_set(False)
        client.connect("127.0.0.1", port, properties=props)
        client.loop_start()
        assert connected.wait(10)
        client.disconnect()
        client.loop_stop()
    finally:
        up.send_signal(signal.SIGINT)
        assert up.wait(30) == 0, log.read_text()
    assert os.path.exists(root / "broker" / "data")
