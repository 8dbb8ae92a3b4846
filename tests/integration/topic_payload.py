"""Not a test: the module a crafted stored topic names (tests/integration/test_record_attacks.py).

Importing it is the attack succeeding: it leaves a mark in the environment, as code run on read would."""

import os
from pathlib import Path

os.environ["ARRIMAGE_TOPIC_PAYLOAD_RAN"] = "1"
if os.environ.get("ARRIMAGE_TOPIC_PAYLOAD_FILE"):  # in another process (the CLI): a file
    Path(os.environ["ARRIMAGE_TOPIC_PAYLOAD_FILE"]).write_text("ran")


class Boom:
    """What the crafted topic names."""
