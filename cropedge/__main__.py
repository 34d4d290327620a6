"""``python -m cropedge``: the same as the ``cropedge`` command."""

from cropedge.cli import main

main()
