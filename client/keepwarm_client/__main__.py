"""``python -m keepwarm_client``: the same as the ``keepwarm`` command."""
import sys

from keepwarm_client.cli import main

sys.exit(main())
