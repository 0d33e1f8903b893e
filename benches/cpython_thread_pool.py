"""CPython's ThreadPoolExecutor on the `submit_result` workload of benches/thread_pool.rs.

Run by `cargo bench --bench thread_pool` when `python3` is on PATH and `submit_result` ran, or
by hand:
    python3 benches/cpython_thread_pool.py [N]
Submits N trivial tasks to a 2-worker pool, then takes every result in submission order; the
clock covers submitting, waiting and dropping the futures, as in the Rust bench. Prints one line:
    cpython submit_result: <us> us/task (<N> tasks)
"""
import sys
import time
from concurrent.futures import ThreadPoolExecutor


def task(i):
    return i


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    with ThreadPoolExecutor(max_workers=2) as ex:
        list(ex.map(task, range(100)))  # start both workers outside the clock
        t0 = time.perf_counter()
        futures = [ex.submit(task, i) for i in range(n)]
        total = sum(f.result() for f in futures)
        del futures
        dt = time.perf_counter() - t0
        assert total == n * (n - 1) // 2
        print(f"cpython submit_result: {dt / n * 1e6:.2f} us/task ({n} tasks)")


if __name__ == "__main__":
    main()
