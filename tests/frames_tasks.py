"""Tasks for the scheduler tests of tests/test_frames.py, in a module of their own so that a worker
process that unpickles them imports nothing more than this (spawned workers import a task's module)."""
import os


def die_on_batch_two(job, payload, device):
    """Ends its worker process, as a crashing device driver would, when given batch 2."""
    if payload == 2:
        os._exit(3)
    return payload


def raise_value_error(job, payload, device):
    raise ValueError("no such thing")


def hang_on_batch_two(job, payload, device):
    """Never returns on batch 2, as a hung device driver would."""
    if payload == 2:
        import time
        time.sleep(3600)
    return payload
