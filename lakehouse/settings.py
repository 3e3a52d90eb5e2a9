"""Where the lakehouse reads and writes, decided once from the environment.

Only :mod:`lakehouse.definitions` calls :meth:`LakehouseSettings.from_env`; everything else
receives the settings (or a resource built from them) as an argument, so tests can point a
whole lakehouse at a ``tmp_path`` without touching the environment.

The first daily partition is ``LAKEHOUSE_START_DATE`` when set; otherwise it follows the data:
the earliest ``sales/<YYYY-MM-DD>`` folder of the landing zone (so the sample set up by
``make dev``, 7 days ending yesterday, shows 7 partitions, not every day since 2025), or
yesterday when nothing has landed yet.

Example::

    settings = LakehouseSettings.from_env()          # honours LAKEHOUSE_* variables
    settings = LakehouseSettings.for_root(tmp_path)  # landing/warehouse/checkpoints under tmp_path
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TypeVar

PROJECT_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_START_DATE = "2025-01-01"
REMOTE_VARIABLE = "LAKEHOUSE_SPARK_REMOTE"
ENGINE_VARIABLE = "LAKEHOUSE_ENGINE"
ENGINES = ("local", "pipes-subprocess", "databricks")  # see lakehouse.pipes
WEBHOOK_VARIABLE = "LAKEHOUSE_ALERT_WEBHOOK_URL"


@dataclass(frozen=True)
class LakehouseSettings:
    landing: Path
    warehouse: Path
    checkpoints: Path
    start_date: str = DEFAULT_START_DATE
    spark_master: str = "local[*]"
    spark_remote: str = ""  # a Spark Connect URL (sc://host:port); empty for embedded Spark
    jars_dir: Path = PROJECT_ROOT / ".cache" / "jars"
    spark_conf: Mapping[str, str] = field(default_factory=dict)
    alert_webhook_url: str = ""
    ui_url: str = "http://127.0.0.1:3000"
    clickstream_watermark: str = "1 hour"
    landing_sensors: bool = True
    engine: str = "local"  # where each step's Spark work runs: one of ENGINES

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> LakehouseSettings:
        """Settings from ``LAKEHOUSE_*`` variables, defaulting to folders under ``data/``.

        Relative paths are taken from the project root, so ``dagster dev`` started from any
        folder finds the same tables. ``LAKEHOUSE_SPARK_CONF`` (a JSON object) adds Spark settings.
        """
        env = os.environ if env is None else env
        data = PROJECT_ROOT / "data"
        landing = _path(env.get("LAKEHOUSE_LANDING"), data / "landing")
        settings = cls(
            landing=landing,
            warehouse=_path(env.get("LAKEHOUSE_WAREHOUSE"), data / "warehouse"),
            checkpoints=_path(env.get("LAKEHOUSE_CHECKPOINTS"), data / "checkpoints"),
            start_date=env.get("LAKEHOUSE_START_DATE") or first_landed_day(landing),
            spark_master=env.get("LAKEHOUSE_SPARK_MASTER", "local[*]"),
            spark_remote=env.get(REMOTE_VARIABLE, "").strip(),
            jars_dir=_path(env.get("LAKEHOUSE_JARS_DIR"), PROJECT_ROOT / ".cache" / "jars"),
            spark_conf=spark_conf_from(env),
            alert_webhook_url=env.get(WEBHOOK_VARIABLE, ""),
            ui_url=env.get("LAKEHOUSE_UI_URL", "http://127.0.0.1:3000"),
            clickstream_watermark=interval_from(env, "LAKEHOUSE_CLICKSTREAM_WATERMARK", default="1 hour"),
            landing_sensors=switch_from(env, "LAKEHOUSE_LANDING_SENSORS", default=True),
            engine=env.get(ENGINE_VARIABLE, "local").strip().lower() or "local",
        )
        if settings.engine not in ENGINES:
            raise ValueError(f"{ENGINE_VARIABLE}={settings.engine!r} is not an engine; choose one of {', '.join(ENGINES)}")
        try:
            date.fromisoformat(settings.start_date)
        except ValueError as error:
            raise ValueError(f"LAKEHOUSE_START_DATE={settings.start_date!r} is not a YYYY-MM-DD date: {error}") from None
        return settings

    def as_env(self) -> dict[str, str]:
        """The ``LAKEHOUSE_*`` variables that give these settings back through :meth:`from_env`, without secrets: the
        webhook URL and a Spark Connect URL that carries a token stay out (a subprocess inherits them from the
        environment). The Pipes engines send these to the process that runs a step.

        Example::

            LakehouseSettings.from_env(settings.as_env()) == dataclasses.replace(settings, alert_webhook_url="")  # no token
        """
        return {
            "LAKEHOUSE_LANDING": str(self.landing),
            "LAKEHOUSE_WAREHOUSE": str(self.warehouse),
            "LAKEHOUSE_CHECKPOINTS": str(self.checkpoints),
            "LAKEHOUSE_START_DATE": self.start_date,
            "LAKEHOUSE_SPARK_MASTER": self.spark_master,
            **({} if "token=" in self.spark_remote.lower() else {REMOTE_VARIABLE: self.spark_remote}),
            "LAKEHOUSE_JARS_DIR": str(self.jars_dir),
            "LAKEHOUSE_SPARK_CONF": json.dumps(dict(self.spark_conf)),
            "LAKEHOUSE_UI_URL": self.ui_url,
            "LAKEHOUSE_CLICKSTREAM_WATERMARK": self.clickstream_watermark,
            "LAKEHOUSE_LANDING_SENSORS": "on" if self.landing_sensors else "off",
            ENGINE_VARIABLE: self.engine,
        }

    @classmethod
    def for_root(cls, root: Path, **overrides) -> LakehouseSettings:
        """Settings with landing, warehouse and checkpoints under one folder (tests, demos)."""
        paths = {"landing": root / "landing", "warehouse": root / "warehouse", "checkpoints": root / "checkpoints"}
        return cls(**{**paths, **overrides})


_DAY = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")


def first_landed_day(landing: Path, today: date | None = None) -> str:
    """The earliest ``sales/<YYYY-MM-DD>`` folder up to yesterday (UTC), else yesterday.

    Example::

        first_landed_day(Path("data/landing"))   # '2026-11-27' for the sample set up on 2026-12-04
    """
    yesterday = (today or datetime.now(UTC).date()) - timedelta(days=1)
    days = []
    try:
        with os.scandir(landing / "sales") as entries:
            for entry in entries:
                if entry.is_dir() and _DAY.match(entry.name):
                    try:
                        days.append(date.fromisoformat(entry.name))
                    except ValueError:
                        continue
    except (FileNotFoundError, NotADirectoryError):
        pass
    return min([d for d in days if d <= yesterday], default=yesterday).isoformat()


def spark_conf_from(env: Mapping[str, str]) -> dict[str, str]:
    """``LAKEHOUSE_SPARK_CONF`` of ``env``, a JSON object such as ``{"spark.driver.memory": "8g"}``; ``{}`` when unset."""
    value = env.get("LAKEHOUSE_SPARK_CONF", "")
    if not value.strip():
        return {}
    try:
        conf = json.loads(value)
    except json.JSONDecodeError as error:
        raise ValueError(f"LAKEHOUSE_SPARK_CONF is not valid JSON ({error}): {value!r}") from None
    if not isinstance(conf, dict):
        raise ValueError(f"LAKEHOUSE_SPARK_CONF must be a JSON object of Spark settings, got {value!r}")
    return {str(k): str(v) for k, v in conf.items()}


N = TypeVar("N", int, float)
ON = ("on", "1", "true", "yes")
OFF = ("off", "0", "false", "no")


def switch_from(env: Mapping[str, str], variable: str, *, default: bool) -> bool:
    """An on/off setting: ``on``/``1``/``true``/``yes`` or ``off``/``0``/``false``/``no`` (any case); unset or empty
    is ``default``. Anything else is refused naming the variable, so a typo (``ture``) never silently means off.

    Example::

        switch_from({"LAKEHOUSE_DATABRICKS_SERVERLESS": "On"}, "LAKEHOUSE_DATABRICKS_SERVERLESS", default=False)  # True
    """
    value = env.get(variable, "").strip().lower()
    if not value:
        return default
    if value in ON or value in OFF:
        return value in ON
    raise ValueError(f"{variable}={env[variable]!r} is neither on nor off; use one of {', '.join(ON + OFF)}")


def number_from(env: Mapping[str, str], variable: str, *, default: N, minimum: N) -> N:
    """A numeric setting of the type of ``default`` (``int`` or ``float``), at least ``minimum``; unset or empty is
    ``default``. A value that is not such a number, or is below ``minimum``, is refused naming the variable.

    Example::

        number_from({"LAKEHOUSE_DATABRICKS_POLL_SECONDS": "0.5"}, "LAKEHOUSE_DATABRICKS_POLL_SECONDS",
                    default=5.0, minimum=0.1)  # 0.5
    """
    text = env.get(variable, "").strip()
    if not text:
        return default
    kind = type(default)
    try:
        value = kind(text)
    except ValueError:
        raise ValueError(f"{variable}={env[variable]!r} is not {'a whole number' if kind is int else 'a number'}"
                         f" (default {default})") from None
    if not value >= minimum:  # also refuses nan
        raise ValueError(f"{variable}={env[variable]!r} is below its minimum {minimum} (default {default})")
    return value


_UNIT = r"(?:\d+\s+(?:year|month|week|day|hour|minute|millisecond|microsecond)s?|\d+(?:\.\d+)?\s+seconds?)"
_INTERVAL = re.compile(rf"^\s*(?:interval\s+)?{_UNIT}(?:\s+{_UNIT})*\s*$", re.IGNORECASE)
_CALENDAR = re.compile(r"\b0*[1-9]\d*\s+(?:year|month)s?\b", re.IGNORECASE)  # a non-zero count of them


def interval(value: str, variable: str, *, calendar: bool = True) -> str:
    """``value`` if Spark reads it as a non-negative interval (``1 hour``, ``10 minutes``, ``1 hour 30 minutes``,
    ``1.5 seconds``), else a ValueError naming ``variable``: Spark would refuse it only once a run starts its query
    (``1h``, ``1 hr``, ``1.5 hours`` and negative intervals are not intervals to Spark).

    ``calendar=False`` also refuses months and years, which have no fixed length: a watermark takes them, a
    processing-time trigger (the streaming CLI's ``--interval``) does not ("Doesn't support month or year interval").
    """
    if not _INTERVAL.match(value):
        raise ValueError(f"{variable}={value!r} is not an interval Spark reads; write a number and a unit, e.g. "
                         "'1 hour', '10 minutes' or '1 hour 30 minutes' (units: week, day, hour, minute, second, "
                         "millisecond, microsecond)")
    if not calendar and _CALENDAR.search(value):
        raise ValueError(f"{variable}={value!r}: a trigger interval has a fixed length; months and years have not, "
                         "write it in weeks, days, hours, minutes or seconds (e.g. '30 days')")
    return value.strip()


def interval_from(env: Mapping[str, str], variable: str, *, default: str) -> str:
    """:func:`interval` of ``env[variable]``; unset or empty is ``default``."""
    value = env.get(variable, "")
    return interval(value, variable) if value.strip() else default


def _path(value: str | None, default: Path) -> Path:
    if not value:
        return default
    path = Path(value).expanduser()
    return path if path.is_absolute() else PROJECT_ROOT / path
