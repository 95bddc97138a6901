"""The long-running daemon: scheduling, health and metrics, systemd integration, leases."""
