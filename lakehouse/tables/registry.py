"""The table registry's vocabulary: a :class:`Table` of :class:`Column` s, declared once per table.

A table is declared with everything the platform needs to know about it, as dbt's
``schema.yml`` or a Unity Catalog entry would hold it: its key ``[layer, name]`` (and so its path
``<warehouse>/<layer>/<name>``), a one-line description, the domain it belongs to, its columns
(name, Spark SQL type, nullability, description, tags), its physical layout (Delta partition
column, Z-order or liquid clustering columns), table properties, CHECK constraints, an owner,
and the small-file threshold maintenance watches.

Assets take their key, description, kinds, tags, owners and ``dagster/column_schema`` from here;
the IO manager and :mod:`lakehouse.delta` create the Delta table from here (so a table's
properties and constraints exist before its first row); checks, maintenance, governance and the
catalog iterate over :data:`lakehouse.tables.TABLES`.

Tags on columns: ``key`` (part of the table's unique key), ``pii`` (personal data, see
CONTRACT.md), ``lineage`` (where a row came from), ``partition`` (the Delta partition column),
``required`` (a landed field the source must send: missing from a whole day is schema drift).

**Derived properties.** A table with ``pii`` columns gets ``delta.dataSkippingStatsColumns`` =
its other columns (see :meth:`Table.stats_columns`), so the min/max statistics Delta writes into
``_delta_log`` for every file never hold a name, an email or a phone number. It is added to
``properties`` when the table is declared, so everything that applies or compares the declared
properties (:func:`lakehouse.delta.create_table`, the ``matches_declaration`` check) covers it.

Example::

    SALES = Table(
        key=dg.AssetKey(["silver", "sales"]), domain="sales", description="Valid sales, one row per sale_id.",
        columns=(Column("sale_id", "string", "Sale identifier.", nullable=False, tags={"key"}), ...),
        partition_column="sale_date", zorder=("customer_id",),
        constraints={"quantity_positive": "quantity > 0"},
    )
    SALES.schema          # a StructType, in column order
    SALES.name            # 'silver.sales'
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Set
from dataclasses import dataclass, field

import dagster as dg
from pyspark.sql import types as T

PII, KEY, LINEAGE, PARTITION, REQUIRED = "pii", "key", "lineage", "partition", "required"
COLUMN_TAGS = frozenset({PII, KEY, LINEAGE, PARTITION, REQUIRED})
DEFAULT_OWNER = "team:data-platform"
STATS_COLUMNS = "delta.dataSkippingStatsColumns"
_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]*$")


_SIMPLE_TYPES: dict[str, T.DataType] = {
    "string": T.StringType(), "bigint": T.LongType(), "int": T.IntegerType(), "double": T.DoubleType(),
    "boolean": T.BooleanType(), "date": T.DateType(), "timestamp": T.TimestampType(), "binary": T.BinaryType(),
}
# The types Delta keeps min/max statistics for; naming another (boolean, binary, array) in
# delta.dataSkippingStatsColumns fails with DELTA_COLUMN_DATA_SKIPPING_NOT_SUPPORTED_TYPE.
_STATS_TYPES = frozenset({"string", "bigint", "int", "double", "date", "timestamp"})


def spark_type(ddl: str) -> T.DataType:
    """The Spark type of a DDL type string (``bigint``, ``array<string>``, ``map<string,bigint>``), without Spark.

    Example::

        spark_type("array<string>")   # ArrayType(StringType(), True)
    """
    text = ddl.strip().lower()
    if text in _SIMPLE_TYPES:
        return _SIMPLE_TYPES[text]
    if text.startswith("array<") and text.endswith(">"):
        return T.ArrayType(spark_type(text[6:-1]))
    if text.startswith("map<") and text.endswith(">"):
        key, _, value = text[4:-1].partition(",")
        return T.MapType(spark_type(key), spark_type(value))
    raise ValueError(f"unsupported column type {ddl!r}: use one of {sorted(_SIMPLE_TYPES)}, array<...> or map<...,...>")


def ddl(schema: T.StructType) -> str:
    """``name TYPE, ...`` of a schema, for readers that take a DDL string.

    Example::

        ddl(tables.SILVER_DIM_PRODUCT.landed_schema("products"))   # 'product_id bigint, product_name string, ...'
    """
    return ", ".join(f"{f.name} {f.dataType.simpleString()}" for f in schema.fields)


@dataclass(frozen=True)
class Column:
    """One column: Spark SQL ``type`` (``bigint``, ``array<string>``, ...), meaning, nullability, tags.

    ``derived_from`` names the upstream columns this one is computed from, as ``layer/table.column``
    (or ``landing/<source>.<field>`` for a landed field); it is the column lineage the assets record.
    """

    name: str
    type: str
    description: str
    nullable: bool = True
    tags: Set[str] = field(default_factory=frozenset)  # any set of COLUMN_TAGS; stored as a frozenset
    derived_from: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        spark_type(self.type)  # fails at load naming the type
        object.__setattr__(self, "tags", frozenset(self.tags))
        object.__setattr__(self, "derived_from", tuple(self.derived_from))
        if not _IDENTIFIER.match(self.name):
            raise ValueError(f"column name {self.name!r} is not a lower_snake_case identifier")
        unknown = self.tags - COLUMN_TAGS
        if unknown:
            raise ValueError(f"column {self.name}: unknown tags {sorted(unknown)}; known: {sorted(COLUMN_TAGS)}")
        if not self.description.strip():
            raise ValueError(f"column {self.name} needs a description")

    @property
    def data_type(self) -> T.DataType:
        return spark_type(self.type)

    @property
    def is_pii(self) -> bool:
        return PII in self.tags


@dataclass(frozen=True)
class Table:
    """One Delta table of the lakehouse, declared once (see the module docstring)."""

    key: dg.AssetKey
    description: str
    domain: str
    columns: tuple[Column, ...]
    partition_column: str | None = None
    zorder: tuple[str, ...] = ()
    cluster_by: tuple[str, ...] = ()
    properties: Mapping[str, str] = field(default_factory=dict)
    constraints: Mapping[str, str] = field(default_factory=dict)
    owner: str = DEFAULT_OWNER
    max_files_per_partition: int = 32
    min_average_file_bytes: int = 1 << 20
    optimize_max_file_bytes: int | None = None  # OPTIMIZE's target file size (Delta's default: 1 GiB)

    def __post_init__(self) -> None:
        object.__setattr__(self, "columns", tuple(self.columns))
        object.__setattr__(self, "zorder", tuple(self.zorder))
        object.__setattr__(self, "cluster_by", tuple(self.cluster_by))
        where = self.name
        if len(self.key.path) != 2 or not all(_IDENTIFIER.match(p) for p in self.key.path):
            raise ValueError(f"table key {self.key.to_user_string()} is not [layer, table] in lower_snake_case")
        names = [c.name for c in self.columns]
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            raise ValueError(f"{where}: columns declared twice: {repeated}")
        for role, columns in (("partition", [self.partition_column] if self.partition_column else []),
                              ("zorder", self.zorder), ("cluster_by", self.cluster_by)):
            unknown = [c for c in columns if c not in names]
            if unknown:
                raise ValueError(f"{where}: {role} column(s) {unknown} are not declared columns")
        if self.cluster_by and (self.partition_column or self.zorder):
            raise ValueError(f"{where}: liquid clustering (cluster_by) cannot be combined with partitioning or Z-order")
        if "\n" in self.description or not self.description.strip():
            raise ValueError(f"{where}: the description must be one non-empty line")
        if self.has_pii:
            self._derive_stats_columns()

    def _derive_stats_columns(self) -> None:
        """Add ``delta.dataSkippingStatsColumns`` (:meth:`stats_columns`) to the properties; refuse a hand-typed other value."""
        laid_out = [c for c in (*self.zorder, *self.cluster_by) if self.column(c).is_pii]
        if laid_out:
            raise ValueError(f"{self.name}: PII column(s) {laid_out} cannot be Z-order or clustering columns: "
                             "those need min/max statistics, which would put personal data into _delta_log")
        derived = ",".join(self.stats_columns())
        declared = self.properties.get(STATS_COLUMNS)
        if declared is not None and declared != derived:
            raise ValueError(f"{self.name}: {STATS_COLUMNS} is derived from the pii tags ({derived!r}); "
                             f"do not declare it ({declared!r})")
        object.__setattr__(self, "properties", {**self.properties, STATS_COLUMNS: derived})

    @property
    def name(self) -> str:
        """``layer.table``, as a SQL endpoint and messages name it."""
        return ".".join(self.key.path)

    @property
    def layer(self) -> str:
        return self.key.path[0]

    @property
    def schema(self) -> T.StructType:
        """The declared columns as a Spark schema, in order."""
        return T.StructType([T.StructField(c.name, c.data_type, c.nullable) for c in self.columns])

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    def column(self, name: str) -> Column:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(f"{self.name} has no column {name!r}; declared: {self.column_names}")

    def columns_tagged(self, tag: str) -> list[Column]:
        return [c for c in self.columns if tag in c.tags]

    @property
    def key_columns(self) -> list[str]:
        return [c.name for c in self.columns_tagged(KEY)]

    def landed_schema(self, source: str) -> T.StructType:
        """The fields of ``landing/<source>`` this table keeps as landed (same name): the schema to parse the source with."""
        return T.StructType([
            T.StructField(c.name, c.data_type) for c in self.columns if c.derived_from == (f"landing/{source}.{c.name}",)
        ])

    @property
    def has_pii(self) -> bool:
        return any(c.is_pii for c in self.columns)

    def stats_columns(self) -> list[str]:
        """The columns Delta keeps file statistics for when the table holds personal data: every column but
        the ``pii`` ones, the partition column (Delta refuses it: a partition needs no statistics) and those
        of a type without min/max statistics (Delta refuses ``boolean``, ``binary``, arrays and maps there).

        Z-order and clustering columns are always in it (they are never ``pii``: checked when declared),
        as OPTIMIZE ZORDER and liquid clustering need their statistics.

        Example::

            tables.SILVER_DIM_CUSTOMER.stats_columns()  # ['customer_id', 'city', 'valid_from', 'valid_to', '_valid_from_seq']
        """
        return [c.name for c in self.columns
                if not c.is_pii and c.name != self.partition_column and c.type in _STATS_TYPES]

    @property
    def non_pii_string_columns(self) -> list[str]:
        """The ``string`` columns not tagged ``pii``: where personal data must not show up (the ``pii_leak`` check)."""
        return [c.name for c in self.columns if c.type == "string" and not c.is_pii]

    @property
    def daily(self) -> bool:
        """Daily partitioned in Dagster (partition column ``sale_date``), not only in Delta."""
        return self.partition_column == "sale_date"

    def column_lineage(self) -> dg.TableColumnLineage | None:
        """``dagster/column_lineage`` from the columns' ``derived_from``, on the asset's definition and on every
        materialization (landing fields are not assets and are left out; the catalog draws them)."""
        deps: dict[str, list[dg.TableColumnDep]] = {}
        for c in self.columns:
            upstream = [ref for ref in c.derived_from if not ref.startswith("landing/")]
            if upstream:
                deps[c.name] = [
                    dg.TableColumnDep(asset_key=dg.AssetKey(ref.split(".", 1)[0].split("/")), column_name=ref.split(".", 1)[1])
                    for ref in upstream
                ]
        return dg.TableColumnLineage(deps_by_column=deps) if deps else None
