"""CPU time a system spends per request: the bench's second signal beside latency.

Read from /proc/<pid>/task/<tid>/schedstat (nanoseconds each thread ran), summed over every
process a demo started and their children (gunicorn's workers). Unlike a latency percentile it
does not depend on what the other core was doing, only on the work the system under test did.
"""

import os

from localmode.sockets import descendants


def process_tree(roots):
    """`roots` and all their descendants (pids)."""
    return {pid for root in roots for pid in descendants(root)}


def cpu_ns(pids):
    """Nanoseconds the threads of `pids` have run so far (those that exited meanwhile count 0)."""
    total = 0
    for pid in pids:
        try:
            for task in os.scandir(f"/proc/{pid}/task"):
                with open(f"{task.path}/schedstat") as stat:
                    total += int(stat.read().split()[0])
        except OSError:
            continue
    return total


def demo_roots(demo):
    """The pids of a local demo's running processes (their children count with them)."""
    return [p.popen.pid for p in demo.processes.values() if p.running]


class CpuMeter:
    """meter = CpuMeter(root_pids); ... run ...; meter.ms_per(requests)"""

    def __init__(self, roots):
        self.pids = process_tree(roots)
        self.start = cpu_ns(self.pids)

    def ms_per(self, requests):
        return (cpu_ns(self.pids) - self.start) / 1e6 / max(requests, 1)
