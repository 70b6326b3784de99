"""Training runs and the processes that run them.

Each training run records its process (``process_tags``); a run left RUNNING by a process that
is gone (kill -9, a crash, a reboot) is marked FAILED by ``mark_dead_runs_failed``.
"""

from __future__ import annotations

import datetime as dt
import os
import socket
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from .store import TrackingStore

HOST_TAG, PID_TAG, PID_STARTED_TAG, BOOT_TAG, STARTED_AT_TAG = (
    "kuajing.host",
    "kuajing.pid",
    "kuajing.pid_started",  # the process's start, clock ticks after boot (/proc/<pid>/stat)
    "kuajing.boot_id",
    "kuajing.started_at",
)
PROCESS_TAGS = (HOST_TAG, PID_TAG, PID_STARTED_TAG, BOOT_TAG, STARTED_AT_TAG)
DEAD_RUN_TAG = "kuajing.failed_reason"
MAX_RUNNING = 1000  # RUNNING runs looked at per experiment


def _boot_id() -> str:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return ""


def _proc_stat(pid: int) -> tuple[str, str] | None:
    """(state, start time in clock ticks after boot) of a Linux process, None if there is no
    such process or no /proc."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields_after_name = stat[stat.rindex(")") + 2 :].split()  # the name may hold spaces
    return fields_after_name[0], fields_after_name[19]


def process_tags() -> dict[str, str]:
    """Tags naming this process: host, pid, its start (so a reused pid is not taken for it),
    the boot (so a reboot ends every run) and the wall-clock start, for people."""
    stat = _proc_stat(os.getpid())
    return {
        HOST_TAG: socket.gethostname(),
        PID_TAG: str(os.getpid()),
        PID_STARTED_TAG: stat[1] if stat else "",
        BOOT_TAG: _boot_id(),
        STARTED_AT_TAG: dt.datetime.now().astimezone().isoformat(timespec="seconds"),
    }


def process_gone(tags: Mapping[str, str]) -> str | None:
    """Why the process that ran a run with these tags is gone, or None if it may be alive
    (or the run was started elsewhere, or before runs had these tags: cannot tell)."""
    host, pid = tags.get(HOST_TAG), tags.get(PID_TAG, "")
    if host != socket.gethostname() or not pid.isdigit():
        return None
    who = f"process {pid} on {host}"
    boot = tags.get(BOOT_TAG)
    if boot and _boot_id() and boot != _boot_id():
        return f"{who} is gone: the machine has restarted since"
    if Path("/proc").is_dir() and Path("/proc/self/stat").exists():
        stat = _proc_stat(int(pid))
        if stat is None:
            return f"{who} is gone"
        state, started = stat
        if state in ("Z", "X"):
            return f"{who} is gone (exited, not yet reaped)"
        if tags.get(PID_STARTED_TAG) and started != tags[PID_STARTED_TAG]:
            return f"{who} is gone (the pid now belongs to another process)"
        return None
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return f"{who} is gone"
    except PermissionError:
        return None  # exists, owned by someone else
    return None


def mark_dead_runs_failed(
    store: TrackingStore, experiments: Sequence[str] | None = None
) -> list[str]:
    """Mark FAILED every RUNNING run (of the named experiments, default every experiment in
    the store) whose process is gone (killed, crashed, machine restarted), with tag
    ``kuajing.failed_reason`` saying so; returns their run ids. Runs of live processes, of
    other hosts and without process tags are left alone. Training calls it for its experiment
    first; ``make run`` calls it for the whole store before a run."""
    client = store.client()
    if experiments is None:
        ids = [e.experiment_id for e in client.search_experiments()]
    else:
        found = (client.get_experiment_by_name(name) for name in experiments)
        ids = [e.experiment_id for e in found if e is not None]
    if not ids:
        return []
    marked = []
    running = client.search_runs(
        ids, filter_string="attributes.status = 'RUNNING'", max_results=MAX_RUNNING
    )
    for run in running:
        why = process_gone(run.data.tags)
        if why is None:
            continue
        now = dt.datetime.now().astimezone().isoformat(timespec="seconds")
        client.set_tag(
            run.info.run_id,
            DEAD_RUN_TAG,
            f"{why} and left the run RUNNING; marked FAILED by mark_dead_runs_failed at {now}",
        )
        client.set_terminated(run.info.run_id, status="FAILED", end_time=int(time.time() * 1000))
        marked.append(run.info.run_id)
    return marked
