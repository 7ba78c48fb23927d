"""What a worker holds between requests, built in the app's lifespan."""

from __future__ import annotations

from dataclasses import dataclass, field

from registrar.config import Settings
from registrar.db import Database
from registrar.services.access import Admission


@dataclass
class Runtime:
    """The worker's settings, its database, and who it lets in."""

    settings: Settings
    db: Database = field(init=False)
    admission: Admission = field(init=False)
