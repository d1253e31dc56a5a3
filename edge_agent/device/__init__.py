"""What runs on the camera: capture, vision, the seal stage, the spool, the uplink and the watchdog. It speaks to
the city only through edge_agent.protocol and never imports edge_agent.city."""
