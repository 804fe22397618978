"""Step timing shared by the `bench_*.py` scripts: warm-up, synchronise, time N calls, peak memory; CPU and CUDA.

    from timing import time_steps, time_interleaved, time_call
    t = time_steps(step, n=5, warmup=1, device="cpu")   # t["median_s"], t["cpu_median_s"], t["peak_mem_bytes"], ...
    t = time_interleaved({"a": step_a, "b": step_b}, n=5, warmup=1)   # t["a"]["median_s"], ...
    value, seconds = time_call(fn, device="cuda")

Wall seconds come from `time.perf_counter`, CPU seconds from `time.process_time` (the process's CPU time: on a shared
machine batch × threads ÷ CPU seconds is the rate the step would reach with its threads to itself). On CUDA the device
is synchronised before the clock starts and after every call, so the time covers the kernels a call launched.
Peak memory over the warm-up and timed calls: `torch.cuda.max_memory_allocated` (its counter reset first) on CUDA; on
the CPU the growth of the process's maximum resident set (`ru_maxrss`), which never goes down — measure one variant
per process when the peak matters.
"""
import resource, statistics, time
from typing import Any, Callable

import torch

__all__ = ["sync", "time_call", "time_steps", "time_interleaved", "max_rss_bytes"]


def _device(device) -> torch.device:
    return device if isinstance(device, torch.device) else torch.device(device or "cpu")


def sync(device="cpu") -> None:
    "Wait for the device's queued work (a no-op on the CPU)."
    d = _device(device)
    if d.type == "cuda": torch.cuda.synchronize(d)


def max_rss_bytes() -> int:
    "The process's peak resident set size so far, in bytes (Linux reports `ru_maxrss` in KiB)."
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def time_call(fn: Callable[[], Any], device="cpu") -> tuple[Any, float]:
    "(fn(), its wall seconds), the device synchronised before and after."
    sync(device)
    t0 = time.perf_counter()
    out = fn()
    sync(device)
    return out, time.perf_counter() - t0


def _summary(walls: list, cpus: list) -> dict:
    return dict(n=len(walls), wall_s=walls, cpu_s=cpus, mean_s=statistics.fmean(walls), median_s=statistics.median(walls),
                cpu_mean_s=statistics.fmean(cpus), cpu_median_s=statistics.median(cpus))


def time_interleaved(fns: dict, n: int, warmup: int = 1, device="cpu") -> dict:
    """Time every `fns[name]()` `n` times, the variants in turn (a, b, a, b, ...: load from other processes hits all
    alike), after `warmup` untimed calls of each (all of a's, then b's). Returns, per name: `mean_s`, `median_s` (wall),
    `cpu_mean_s`, `cpu_median_s` (process CPU seconds), the lists `wall_s`, `cpu_s`, and `n`."""
    for f in fns.values():
        for _ in range(warmup): f()
    walls, cpus = {k: [] for k in fns}, {k: [] for k in fns}
    sync(device)
    for _ in range(n):
        for k, f in fns.items():
            t0, c0 = time.perf_counter(), time.process_time()
            f()
            sync(device)
            walls[k].append(time.perf_counter() - t0)
            cpus[k].append(time.process_time() - c0)
    return {k: _summary(walls[k], cpus[k]) for k in fns}


def time_steps(fn: Callable[[], Any], n: int, warmup: int = 1, device="cpu") -> dict:
    """Time `n` calls of `fn()` after `warmup` untimed ones (see `time_interleaved` for the timing keys), with the peak
    memory over all of them: `peak_mem_bytes` (CUDA: `max_memory_allocated`; CPU: growth of the maximum RSS from before
    the first call) and `peak_rss_bytes` (the process's maximum RSS at the end)."""
    d = _device(device)
    rss0 = max_rss_bytes()
    if d.type == "cuda": torch.cuda.reset_peak_memory_stats(d)
    out = time_interleaved({"": fn}, n, warmup, d)[""]
    out["peak_rss_bytes"] = max_rss_bytes()
    out["peak_mem_bytes"] = torch.cuda.max_memory_allocated(d) if d.type == "cuda" else out["peak_rss_bytes"] - rss0
    return out
