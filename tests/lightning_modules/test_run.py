"""What every run is made of: the training process leaves its loader workers a core each."""

from __future__ import annotations

import os

import pytest
import torch

from lightning_modules.run import share_cores, training_threads


@pytest.fixture
def threads():
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


@pytest.mark.parametrize(
    ("cores", "loader_workers", "expected"),
    [(2, 2, 1), (2, 0, 2), (16, 4, 12), (1, 8, 1), (4, 3, 1)],
)
def test_training_threads_are_the_cores_the_loader_workers_leave(cores, loader_workers, expected):
    assert training_threads(cores, loader_workers) == expected


def test_a_cpu_run_takes_the_cores_it_was_given_less_its_loaders(threads, monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "4")  # as Ray sets it for a worker of 4 CPUs
    share_cores(1)
    assert torch.get_num_threads() == 3
    share_cores(1)  # again (a second run in the process): from what it was given, not less
    assert torch.get_num_threads() == 3
    monkeypatch.delenv("OMP_NUM_THREADS")
    share_cores(0)
    assert torch.get_num_threads() == len(os.sched_getaffinity(0))
