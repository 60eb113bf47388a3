"""Every package's tables, gathered for Alembic's autogenerate and `alembic check`."""

from __future__ import annotations

from sqlalchemy import MetaData

import bots.web.models  # noqa: F401
import creator_hub.models  # noqa: F401
import engine.audience  # (contact tags)
import engine.channel_models  # (each import registers its tables on Base.metadata)
import engine.models  # noqa: F401
import knowledge.models  # noqa: F401
import programs.models  # noqa: F401
from engine.db import Base

target_metadata: MetaData = Base.metadata
