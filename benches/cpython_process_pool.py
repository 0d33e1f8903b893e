"""CPython's ProcessPoolExecutor on the workloads of benches/process_pool.rs.

Run by `cargo bench --bench process_pool` when `python3` is on PATH, or by hand:
    python3 benches/cpython_process_pool.py [N_SUBMIT] [N_MAP]
Prints one `cpython <name>: <us> us/item` line per workload.
"""
import sys
import time
from concurrent.futures import ProcessPoolExecutor


def noop(n):
    return n


def main():
    n_submit = int(sys.argv[1]) if len(sys.argv) > 1 else 20_000
    n_map = int(sys.argv[2]) if len(sys.argv) > 2 else 1_000_000
    with ProcessPoolExecutor(max_workers=2) as ex:
        list(ex.map(noop, range(100)))  # start the workers outside the clock
        t0 = time.perf_counter()
        futures = [ex.submit(noop, i) for i in range(n_submit)]
        total = sum(f.result() for f in futures)
        dt = time.perf_counter() - t0
        assert total == n_submit * (n_submit - 1) // 2
        print(f"cpython submit_result: {dt / n_submit * 1e6:.2f} us/item ({n_submit} tasks)")
        t0 = time.perf_counter()
        total = sum(ex.map(noop, range(n_map), chunksize=1000))
        dt = time.perf_counter() - t0
        assert total == n_map * (n_map - 1) // 2
        print(f"cpython map_chunksize_1000: {dt / n_map * 1e6:.3f} us/item ({n_map} items)")


if __name__ == "__main__":
    main()
