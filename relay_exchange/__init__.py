"""The relayed exchange between insurers: requests checked, routed and answered through the
relay."""
