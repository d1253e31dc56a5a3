"""What the camera and the city must agree on: envelopes and keys (crypto/), the read itself, MQTT topics and
sessions, and the plate formats. docs/protocol.md is its specification; neither side's code lives here."""
