"""Run a few independent calls side by side, with their results in the order given."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")


def in_order(calls: Sequence[Callable[[], T]], workers: int, name: str) -> Iterator[T]:
    """Run `calls` on up to `workers` threads named `name-N`; yield their results in the
    order given, each as soon as it and the ones before it are done.

    The first call that raised raises here, after the calls already started have ended.
    Spark, Delta commits and GX mostly wait on the JVM, so threads overlap them well.
    """
    with ThreadPoolExecutor(max(1, min(workers, len(calls))), thread_name_prefix=name) as pool:
        futures = [pool.submit(call) for call in calls]
        for future in futures:
            yield future.result()
