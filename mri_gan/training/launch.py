"""Run N local training workers under MultiWorkerMirroredStrategy (TF_CONFIG on loopback ports).

The supervisor watches its workers: when one dies (exit code != 0, e.g. SIGKILL) it stops the
others (SIGTERM, then SIGKILL after ``grace`` seconds) and returns the failing code, so a lost
worker never leaves the job hanging. Relaunching with ``--resume`` continues from the last
checkpoint.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time

from mri_gan.errors import UserError


def free_ports(n: int) -> list[int]:
    sockets = [socket.socket() for _ in range(n)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def tf_config(ports: list[int], index: int) -> str:
    return json.dumps({"cluster": {"worker": [f"127.0.0.1:{p}" for p in ports]},
                       "task": {"type": "worker", "index": index}})


def worker_env(ports: list[int], index: int, threads: int) -> dict:
    env = dict(os.environ, TF_CONFIG=tf_config(ports, index), MRI_GAN_THREADS=str(threads))
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    return env


def _pin(index: int, threads: int):
    """Pin worker ``index`` to its own cores where the OS allows it."""
    if not hasattr(os, "sched_setaffinity"):
        return None
    cores = sorted(os.sched_getaffinity(0))
    mine = {cores[(index * threads + k) % len(cores)] for k in range(threads)}
    return lambda: os.sched_setaffinity(0, mine)


def launch(train_args: list[str], workers: int, threads: int = 1, timeout: float | None = None,
           grace: float = 10.0) -> int:
    """Start the workers, supervise them, return the job's exit code."""
    if workers < 1:
        raise UserError("--workers", "must be at least 1")
    if any(a == "--strategy" or a.startswith("--strategy=") for a in train_args):
        raise UserError("--strategy", "launch-local sets the strategy itself (multiworker)")
    ports = free_ports(workers)
    command = [sys.executable, "-m", "mri_gan.train", *train_args, "--strategy", "multiworker"]
    procs = [subprocess.Popen(command + (["--no-progress"] if i else []),
                              env=worker_env(ports, i, threads), preexec_fn=_pin(i, threads))
             for i in range(workers)]
    forwarded = {"signal": None}

    def forward(signum, _frame):
        forwarded["signal"] = signum
        for p in procs:
            if p.poll() is None:
                p.send_signal(signum)

    previous = {s: signal.signal(s, forward) for s in (signal.SIGINT, signal.SIGTERM)}
    start = time.monotonic()
    try:
        while True:
            codes = [p.poll() for p in procs]
            failed = [(i, c) for i, c in enumerate(codes) if c not in (None, 0)]
            if failed or all(c == 0 for c in codes):
                break
            if timeout is not None and time.monotonic() - start > timeout:
                failed = [(-1, 124)]
                sys.stderr.write(f"mri-gan: launch-local: timed out after {timeout:g} s; stopping workers\n")
                break
            time.sleep(0.2)
        if failed:
            index, code = failed[0]
            if index >= 0:
                sys.stderr.write(f"mri-gan: launch-local: worker {index} exited with {code}; "
                                 f"stopping the others (relaunch with --resume to continue)\n")
            _stop(procs, grace)
            return code if code > 0 else 128 - code
        return 0
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


def _stop(procs, grace: float) -> None:
    for p in procs:
        if p.poll() is None:
            p.terminate()
    deadline = time.monotonic() + grace
    for p in procs:
        try:
            p.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
