"""What runs at the city: the reference ingest service and its stores. It knows the camera only through
edge_agent.protocol and never imports edge_agent.device."""
