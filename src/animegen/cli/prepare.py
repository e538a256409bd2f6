"""`animegen prepare` (being written: see the issue tracker)."""
from __future__ import annotations

from animegen.cli.app import app
