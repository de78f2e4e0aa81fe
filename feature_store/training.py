"""Point-in-time training sets: labels joined to the snapshot of the day before the label.

A label at label_time gets the features/user_features row with as_of_date = the UTC
date of label_time minus one day. That snapshot only holds events of earlier days, so no
event of the label's own day (or later) leaks into the training row.
"""

from __future__ import annotations

from collections.abc import Sequence

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import DateType, StringType, TimestampNTZType, TimestampType

from feature_store.registry import ENTITY_KEY, TABLE, TIME_KEY, feature_names
from schemas.tables import USER_FEATURES

LABEL_TIME = "label_time"
_MICROS_PER_DAY = 86_400_000_000
_AS_OF = "__training_as_of_date"


class TrainingSetError(ValueError):
    """Labels, feature names or the feature source cannot make a training set."""


def get_training_set(
    spark: SparkSession,
    labels: DataFrame,
    features: list[str] | None = None,
    root: str | None = None,
    features_df: DataFrame | None = None,
) -> DataFrame:
    """Every label row (all its columns, in order) plus the requested features.

    `labels` needs `user_id` (string) and `label_time` (timestamp, timestamp_ntz taken as
    UTC, or date). `features` are registry names (default: all). Snapshots come from
    `features_df` when given, else from the Delta table under the lakehouse `root`.
    Raises TrainingSetError on bad input.
    """
    names = _feature_list(features)
    _check_labels(labels, names)
    snapshots = _snapshots(spark, root, features_df, names)
    label_day = _utc_date(labels.schema[LABEL_TIME].dataType)
    keyed = labels.withColumn(_AS_OF, F.date_sub(label_day, 1))
    joined = keyed.join(snapshots.withColumnRenamed(TIME_KEY, _AS_OF), [ENTITY_KEY, _AS_OF], "left")
    return joined.select(*[F.col(f"`{c}`") for c in labels.columns], *names)


def _feature_list(features: Sequence[str] | None) -> list[str]:
    known = feature_names()
    if features is None:
        return known
    if isinstance(features, str) or not isinstance(features, Sequence):
        raise TrainingSetError(f"features must be a list of feature names, got {features!r}")
    bad = [f for f in features if not isinstance(f, str)]
    if bad:
        raise TrainingSetError(f"feature names must be strings, got {bad!r}")
    if not features:
        raise TrainingSetError("features is empty; pass None for every feature")
    unknown = [f for f in features if f not in known]
    if unknown:
        raise TrainingSetError(
            f"unknown feature(s) {', '.join(map(repr, unknown))}; known: {', '.join(known)}"
        )
    return list(dict.fromkeys(features))  # keep the order, drop repeats


def _check_labels(labels: DataFrame, names: list[str]) -> None:
    if not isinstance(labels, DataFrame):
        raise TrainingSetError(f"labels must be a Spark DataFrame, got {type(labels).__name__}")
    types = {f.name: f.dataType for f in labels.schema.fields}
    missing = [c for c in (ENTITY_KEY, LABEL_TIME) if c not in types]
    if missing:
        raise TrainingSetError(
            f"labels lack column(s) {', '.join(missing)}; they need {ENTITY_KEY} (string) "
            f"and {LABEL_TIME} (timestamp)"
        )
    if not isinstance(types[ENTITY_KEY], StringType):
        raise TrainingSetError(
            f"labels.{ENTITY_KEY} must be a string, got {types[ENTITY_KEY].simpleString()}"
        )
    if not isinstance(types[LABEL_TIME], TimestampType | TimestampNTZType | DateType):
        raise TrainingSetError(
            f"labels.{LABEL_TIME} must be a timestamp (or date), got "
            f"{types[LABEL_TIME].simpleString()}; parse strings with to_timestamp first"
        )
    clashes = [c for c in names if c in types] + [c for c in (_AS_OF,) if c in types]
    if clashes:
        raise TrainingSetError(
            f"labels already have column(s) {', '.join(clashes)}; rename or drop them"
        )


def _snapshots(
    spark: SparkSession, root: str | None, features_df: DataFrame | None, names: list[str]
) -> DataFrame:
    if features_df is None:
        if root is None:
            raise TrainingSetError("pass features_df or the lakehouse root to read features from")
        features_df = spark.read.format("delta").load(f"{root.rstrip('/')}/{TABLE}")
    types = {f.name: f.dataType for f in features_df.schema.fields}
    for column in (ENTITY_KEY, TIME_KEY, *names):
        want = USER_FEATURES[column].dataType
        if column not in types:
            raise TrainingSetError(f"the features lack column {column!r}")
        if types[column] != want:
            raise TrainingSetError(
                f"features.{column} must be {want.simpleString()}, "
                f"got {types[column].simpleString()}"
            )
    return features_df.select(ENTITY_KEY, TIME_KEY, *names)


def _utc_date(label_type: object) -> Column:
    column = F.col(LABEL_TIME)
    if isinstance(label_type, DateType):
        return column
    if isinstance(label_type, TimestampNTZType):
        return F.to_date(column)  # a wall-clock time, read as UTC
    # An instant: its UTC day, whatever the session time zone.
    return F.date_from_unix_date(F.floor(F.unix_micros(column) / _MICROS_PER_DAY).cast("int"))
