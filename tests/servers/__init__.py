"""Real servers (Dovecot, ...) that the integration tests start privately on loopback."""
