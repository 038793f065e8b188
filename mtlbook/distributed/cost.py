"""The cost of data parallelism on paper: a ring all-reduce and a step.

A ring all-reduce of P values over N workers runs N − 1 reduce-scatter steps
and N − 1 all-gather steps; in each, every worker sends one chunk of P/N
values to its neighbour. Each worker therefore sends 2(N − 1)/N · P values
(the bandwidth term, nearly 2P for large N) and pays 2(N − 1) message
latencies (Patarasuk & Yuan 2009):

    T(N) = 2(N − 1) α + 2(N − 1)/N · P b / β

with α the latency of one message, β the link bandwidth and b the bytes per
value. With the global batch fixed (strong scaling), a step that computes in
t₁ seconds on one worker takes about t₁/N + T(N) on N, with no overlap of
computation and communication (DDP overlaps them, so this is an upper bound).
"""

from __future__ import annotations

from mtlbook._validate import check_int, check_real

__all__ = ["allreduce_bytes", "allreduce_seconds", "step_seconds"]


def allreduce_bytes(n_values: int, world_size: int, bytes_per_value: int = 4) -> float:
    """Bytes each worker sends in a ring all-reduce: 2(N − 1)/N · P · b."""
    check_int("n_values", n_values, low=0)
    check_int("world_size", world_size, low=1)
    check_int("bytes_per_value", bytes_per_value, low=1, example=4)
    return 2 * (world_size - 1) / world_size * n_values * bytes_per_value


def allreduce_seconds(
    n_values: int,
    world_size: int,
    *,
    bandwidth: float,
    latency: float,
    bytes_per_value: int = 4,
) -> float:
    """Seconds of a ring all-reduce: 2(N − 1) α + bytes / β.

    bandwidth: β in bytes per second (e.g. 12.5e9 for 100 Gbit/s); latency: α
    in seconds per message (e.g. 5e-6). 0 for one worker.
    """
    check_real("bandwidth", bandwidth, low=0.0, low_open=True, example=12.5e9)
    check_real("latency", latency, low=0.0, example=5e-6)
    moved = allreduce_bytes(n_values, world_size, bytes_per_value)
    return 2 * (world_size - 1) * latency + moved / bandwidth


def step_seconds(
    compute_seconds: float,
    n_values: int,
    world_size: int,
    *,
    bandwidth: float,
    latency: float,
    bytes_per_value: int = 4,
) -> float:
    """Seconds of one data-parallel step: t₁/N + T(N), global batch fixed.

    compute_seconds: t₁, the step's computation on one worker.
    """
    check_real("compute_seconds", compute_seconds, low=0.0, example=0.01)
    comm = allreduce_seconds(
        n_values,
        world_size,
        bandwidth=bandwidth,
        latency=latency,
        bytes_per_value=bytes_per_value,
    )
    return compute_seconds / check_int("world_size", world_size, low=1) + comm
