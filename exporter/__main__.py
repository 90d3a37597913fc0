"""`python -m exporter` runs the exporter."""

from exporter.cli import main

main()
