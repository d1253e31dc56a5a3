"""Home Assistant MQTT discovery for the cameras' status, on the city's monitoring side.

Each enrolled camera appears in Home Assistant as a device with a connectivity sensor and sensors for its spool,
reads sealed, CPU temperature, certificate days left and clock, all read from the retained status message the camera
already publishes (docs/protocol.md section 6). Nothing new is published by the cameras; the discovery configs are
retained messages under ``homeassistant/``, published by the ingest when a camera's first status reaches it
(``ingest.homeassistant``, on in the config `city init` writes), so a camera enrolled later appears by itself;
`edge-agent city ha-discovery` publishes them for every enrolled camera at once. Home Assistant connects with the
read-only ``monitor`` identity (`city init` issues it; the ACL lets it read status topics and discovery configs and
nothing else). A status message never carries a plate, and every template here reads a named status field, so no
plate can reach Home Assistant.
"""

from __future__ import annotations

import json
from typing import Any

from edge_agent import __version__

DISCOVERY_PREFIX = "homeassistant"

# (key, component, name, value template, extra config)
SENSORS: tuple[tuple[str, str, str, str, dict[str, Any]], ...] = (
    ("online", "binary_sensor", "Online", "{{ value_json.state }}",
     {"device_class": "connectivity", "payload_on": "online", "payload_off": "offline"}),
    ("spool_depth", "sensor", "Reads waiting to upload", "{{ value_json.spool.depth }}",
     {"state_class": "measurement", "unit_of_measurement": "reads", "icon": "mdi:tray-full"}),
    ("spool_oldest", "sensor", "Oldest waiting read", "{{ value_json.spool.oldest_age_s }}",
     {"device_class": "duration", "unit_of_measurement": "s", "state_class": "measurement"}),
    ("reads_sealed", "sensor", "Reads sealed", "{{ value_json.reads.sealed }}",
     {"state_class": "total_increasing", "icon": "mdi:counter"}),
    ("cpu_temperature", "sensor", "CPU temperature", "{{ value_json.cpu_temp_c }}",
     {"device_class": "temperature", "unit_of_measurement": "°C", "state_class": "measurement"}),
    ("certificate_days", "sensor", "Certificate days left", "{{ value_json.tls.cert_days_left }}",
     {"unit_of_measurement": "d", "state_class": "measurement", "icon": "mdi:certificate"}),
    ("clock_synced", "binary_sensor", "Clock synchronised", "{{ 'ON' if value_json.clock_synced else 'OFF' }}",
     {"entity_category": "diagnostic"}),
    ("uplink", "sensor", "Uplink", "{{ value_json.uplink.state }}", {"entity_category": "diagnostic"}),
    ("disk_full", "binary_sensor", "Disk full", "{{ 'ON' if value_json.spool.disk_full else 'OFF' }}",
     {"device_class": "problem", "entity_category": "diagnostic"}),
)  # fmt: skip
STATUS_FIELDS = {"state", "spool", "reads", "cpu_temp_c", "tls", "clock_synced", "uplink"}


def discovery(device_id: str, topic_prefix: str = "alpr", location: str | None = None) -> dict[str, str]:
    """{config topic: retained JSON payload} announcing one camera's sensors to Home Assistant."""
    status = f"{topic_prefix}/v1/{device_id}/status"
    device = {
        "identifiers": [f"edge_agent_{device_id}"],
        "name": f"Plate camera {device_id}",
        "manufacturer": "edge-agent",
        "model": "edge-agent camera",
        "sw_version": __version__,
    }
    if location:
        device["suggested_area"] = location
    out = {}
    for key, component, name, template, extra in SENSORS:
        object_id = f"edge_agent_{device_id.replace('-', '_')}_{key}"
        config: dict[str, Any] = {
            "name": name,
            "unique_id": object_id,
            "object_id": object_id,
            "state_topic": status,
            "value_template": template,
            "device": device,
            **extra,
        }
        if key != "online":
            config["availability_topic"] = status
            config["availability_template"] = "{{ value_json.state }}"
            config["payload_available"] = "online"
            config["payload_not_available"] = "offline"
        out[f"{DISCOVERY_PREFIX}/{component}/{object_id}/config"] = json.dumps(config, sort_keys=True)
    return out
