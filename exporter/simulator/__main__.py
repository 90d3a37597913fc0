"""``python -m exporter.simulator``: serve the demo or a generated scenario on loopback."""

from exporter.simulator.cli import main

raise SystemExit(main())
