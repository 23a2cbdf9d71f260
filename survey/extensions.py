"""Flask extensions, created unbound; ``create_app`` binds them with ``init_app``."""

from flask import current_app, request
from flask_babel import Babel
from flask_limiter import Limiter as _Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_wtf import CSRFProtect
from sqlalchemy import MetaData
from sqlalchemy.orm import DeclarativeBase

from . import ratelimit_storage  # noqa: F401  (registers local:// with the limits library)

# Stable constraint names, so Alembic migrations are the same on SQLite and PostgreSQL.
NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """Declarative base with the naming convention."""

    metadata = MetaData(naming_convention=NAMING)


class Limiter(_Limiter):
    """Flask-Limiter, whose automatic check before every request skips the blueprints an app
    names in ``app.extensions["limiter_unchecked"]`` (see ``create_app``).

    The automatic check costs ~35 µs per request even where it finds nothing to count; the
    public form's own limits are counted in ``public/limits.py``, so the check is skipped there
    only when the app has no app-wide, default or meta limits. Decorated limits (``@limiter.limit``)
    are checked in their decorator and are never skipped. Should Flask-Limiter rename the hook,
    nothing is skipped: slower, never less limited.
    """

    def _check_request_limit(self, *args, **kwargs) -> None:
        # Flask calls the before-request hook with no arguments; decorators pass theirs.
        if not (args or kwargs) and request.blueprint in current_app.extensions.get("limiter_unchecked", ()):
            return
        super()._check_request_limit(*args, **kwargs)


db = SQLAlchemy(model_class=Base)
migrate = Migrate()
csrf = CSRFProtect()
babel = Babel()
limiter = Limiter(key_func=get_remote_address, default_limits=[])
login_manager = LoginManager()
