"""``python -m cmtlite`` runs the command-line interface."""

from cmtlite.cli import main

main()
