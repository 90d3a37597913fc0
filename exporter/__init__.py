"""Prometheus exporter for AWS Config conformance pack deployment status."""

__version__ = "0.1.0"
