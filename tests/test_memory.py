"""pyautodiff.memory: the locks on arrays a live graph saved, and write versions, under the
garbage collector and threads (the state a user never sees directly: the arrays' flags)."""

import gc

import numpy as np
import pytest
from conftest import in_threads

import pyautodiff as ad
from pyautodiff import memory

pytestmark = pytest.mark.usefixtures("backend")


def test_graph_dropped_by_the_cycle_collector_while_the_guard_is_held_does_not_hang():
    # A node holding locks, inside a reference cycle, collected while this thread holds
    # the guard (as a collection can start inside lock()): its release waits in a queue
    # and runs when the guard is next left, instead of deadlocking on the guard.
    x = ad.tensor(np.linspace(0, 1, 2000), requires_grad=True)
    data = x.numpy()
    gc.disable()
    try:
        for _ in range(3):
            y = (x * x).sum()
            cycle = [y]
            cycle.append(cycle)
            del y, cycle
        assert not data.flags.writeable  # the graphs live on in their cycles
    finally:
        gc.enable()
    memory._guard.acquire()
    try:
        gc.collect()  # finalizers run here, with the guard taken
    finally:
        memory._exit()
    assert data.flags.writeable
    assert memory._locks == {} and not memory._pending


def test_threads_locking_and_releasing_the_same_array_leave_it_writable():
    w = ad.tensor(np.ones(5000), requires_grad=True)
    errors = []

    def work():
        try:
            for _ in range(200):
                loss = (w * 2.0).sum() + (w * w).sum()
                if _ % 2:
                    loss.backward()
                del loss
        except Exception as e:  # noqa: BLE001  (reported below, with the thread's error)
            errors.append(e)

    in_threads(lambda i: work(), 4)
    gc.collect()
    assert errors == []
    assert w.numpy().flags.writeable and memory._locks == {}
    # every backward added 2 + 2w = 4 into the gradient: 4 threads x 100 passes
    np.testing.assert_array_equal(w.grad.numpy(), np.full(5000, 4.0 * 400))


def test_lock_of_an_array_that_dies_goes_with_it():
    x = ad.tensor(np.linspace(-1, 1, 3000), requires_grad=True)
    u = ad.exp(x)
    y = u.sum()
    arr = u.numpy()  # a result's array asked for while its graph is live: locked, weakly
    assert not arr.flags.writeable
    before = len(memory._locks)
    del u, arr, y
    gc.collect()
    assert len(memory._locks) < before
    assert memory._locks == {}


def test_a_view_made_of_a_locked_array_comes_back_writable_with_it():
    w = ad.tensor(np.arange(6.0), requires_grad=True)
    y = (w * w).sum()  # locks w's array
    with ad.no_grad():
        v = w.reshape(2, 3)  # a view, made while locked: read-only too
    assert not w.numpy().flags.writeable and not v.detach().numpy().flags.writeable
    y.backward()
    del y
    gc.collect()
    assert w.numpy().flags.writeable
    v.detach().numpy()[0, 0] = 7.0  # the view is writable again, and writes w
    assert w.numpy()[0] == 7.0


def test_a_users_own_read_only_array_stays_read_only():
    frozen = np.linspace(0, 1, 4000)
    frozen.flags.writeable = False
    x = ad.tensor(np.ones(4000), requires_grad=True)
    y = (x * frozen).sum()
    y.backward()
    del y
    gc.collect()
    assert not frozen.flags.writeable
    np.testing.assert_array_equal(x.grad.numpy(), frozen)


def test_versions_count_library_writes_shared_by_views():
    t = ad.tensor(np.zeros(6))
    v = t.reshape(2, 3)
    assert (t._version, v._version) == (0, 0)
    with ad.no_grad():
        t += 1.0
        v[0, 0] = 5.0
    assert t._version == v._version == 2
    t.numpy()[1] = 3.0  # numpy's own writes are not counted (PyTorch's .numpy() too)
    assert t._version == 2
    np.testing.assert_array_equal(t.numpy(), [5.0, 3.0, 1.0, 1.0, 1.0, 1.0])
