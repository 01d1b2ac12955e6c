"""Column types shared by the models."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from sqlalchemy import BigInteger, DateTime, Dialect, Integer, String, Text, TypeDecorator
from sqlalchemy.orm import mapped_column


class UTCDateTime(TypeDecorator[datetime]):
    """An instant stored as naive UTC and always returned aware in UTC.

    SQLite has no time zones and PostgreSQL's `timestamp` would silently use the
    session zone, so the conversion is done here, once, for every column.
    """

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if isinstance(value, str):  # raw SQL on SQLite can hand back text
            value = datetime.fromisoformat(value)
        return value.replace(tzinfo=UTC)  # type: ignore[no-any-return]


# Big integers: engagement figures (Reddit scores are signed) and ids on PostgreSQL.
BigInt = BigInteger().with_variant(Integer(), "sqlite")

intpk = Annotated[int, mapped_column(BigInt, primary_key=True, autoincrement=True)]
utc = Annotated[datetime, mapped_column(UTCDateTime())]
slug = Annotated[str, mapped_column(String(100))]
text = Annotated[str, mapped_column(Text())]
