"""Data errors: user-input problems that the CLI reports on one line.

They derive from ``gan_jax.config.UserError`` (so the driver prints the message and exits
with status 2) and from the matching builtin (``ValueError`` / ``FileNotFoundError``), so
library users can catch them the usual Python way.
"""

from __future__ import annotations

from gan_jax.config import UserError


class DatasetError(UserError, ValueError):
    """Unknown dataset, corrupt or malformed file, inconsistent images."""


class DatasetNotFoundError(UserError, FileNotFoundError):
    """A file or directory the dataset needs does not exist."""
