"""Who may write an array: version counters, and the locks on arrays a live graph saved.

Two mechanisms keep a gradient from silently using a value that changed after the
op that read it was recorded (PyTorch's version counters, MyGrad's memory locking):

- **Locks.** An array a graph node saved for its VJPs, when the user can reach it
  (a leaf tensor's array, a numpy array passed in, a view), is made read-only
  until the backward pass frees that node or the node is dropped; so is the
  array of a recorded result when the user asks for it (``t.data``, ``t.numpy()``,
  ``np.asarray(t)``) while its graph is live. A numpy write into a locked array
  raises numpy's "assignment destination is read-only". A lock never outlives
  its graph: the previous writeability comes back when the last lock goes.
- **Versions.** The library's own writes (in-place operators, ``t[i] = v``,
  ``zero_()``, optimizer steps) are allowed into locked arrays, and count as a new
  version of the memory they write (every view of one buffer shares one count).
  Writes are stamped from the same counter that numbers graph nodes, so a node
  knows a saved array was written after it was recorded when the array's stamp
  is larger than the node's number; the backward pass then raises.

A numpy view the user took of an array before it was locked stays writable
(numpy cannot lock the other views of a buffer): write through tensors instead.
"""

import collections
import itertools
import threading
import weakref

import numpy as np

_ndarray = np.ndarray

# One counter numbers graph nodes and stamps writes (engine.Node._seq).
next_seq = itertools.count(1).__next__
# The stamp of the latest library write: a node recorded after it needs no check.
last_write = [0]
# How many write stamps a buffer remembers, to name the version a node saw.
_RECENT = 64

_guard = threading.Lock()
_acquire = _guard.acquire


def root(a):
    """The array that owns ``a``'s memory (``a`` itself unless it is a view)."""
    while type(a.base) is _ndarray:
        a = a.base
    return a


# ----- versions ------------------------------------------------------------------------

class _Cell:
    """The write count of one buffer: ``version``, the ``stamp`` of its latest write
    and the stamps of its recent writes."""

    __slots__ = ("recent", "ref", "stamp", "version")


_cells = {}  # id(root array) -> _Cell, dropped when the array dies


def _cell(r, create):
    c = _cells.get(id(r))
    if c is not None and c.ref() is r:
        return c
    if not create:
        return None
    c = _Cell()
    key = id(r)
    c.ref = weakref.ref(r, lambda _, key=key, c=c: _cells.get(key) is c and _cells.pop(key))
    c.version = c.stamp = 0
    c.recent = collections.deque(maxlen=_RECENT)
    _cells[key] = c
    return c


def version(a):
    """How many times the library wrote into the memory of array ``a``."""
    c = _cell(root(a), False)
    return 0 if c is None else c.version


def bump(a):
    """Count a library write into array ``a`` (after it happened)."""
    with _guard:
        c = _cell(root(a), True)
        c.version += 1
        c.stamp = s = next_seq()
        c.recent.append(s)
        last_write[0] = s


def written_since(a, seq):
    """``(version now, version at node number seq or None if too old)`` when array ``a``
    was written after node ``seq`` was recorded, else None."""
    c = _cell(root(a), False)
    if c is None or c.stamp < seq:
        return None
    after = sum(1 for s in c.recent if s > seq)
    known = len(c.recent) < _RECENT or c.recent[0] < seq
    return c.version, (c.version - after if known else None)


# ----- locks ---------------------------------------------------------------------------

# id(array) -> its lock: [array (or a weak reference to it), number of locks, writeable
# before, id]. What ``lock`` returns, and ``release`` takes, is a list of these entries.
_locks = {}
_get = _locks.get
# id(owner array) -> views made read-only by its lock, made writable again with it
_waiting = {}
# Releases asked for where the guard could not be taken (a node dropped by the garbage
# collector while this thread, or another, holds it): run by whoever holds it next.
_pending = collections.deque()


def _drain():
    """Run the releases queued by ``release`` (the guard held)."""
    while _pending:
        _unlock(_pending.popleft())


def _exit():
    """Leave the guard, then run releases queued meanwhile (see ``release``)."""
    _guard.release()
    while _pending and _guard.acquire(blocking=False):
        try:
            _drain()
        finally:
            _guard.release()


def lock(arrays, weak=False):
    """Make ``arrays`` (and the arrays owning their memory) read-only until ``release``;
    returns what ``release`` must be given. ``weak``: the locks do not keep the
    arrays alive (an array that dies takes its lock with it)."""
    held = []
    _guard.acquire()
    try:
        for a in arrays:
            e = _get(id(a))
            if e is not None and e[0] is a:  # locked already: the common case
                e[1] += 1
                held.append(e)
                continue
            r = a if a.base is None else root(a)
            # (a view is read-only only through its owner when we locked that owner)
            er = _get(id(r))
            through = r is not a and er is not None and er[2] and _inherits(a)
            for b in (a,) if r is a else (r, a):
                key = id(b)
                e = _get(key)
                if e is None:
                    flags = b.flags
                    was = flags.writeable
                    if was:
                        flags.writeable = False
                    elif b is not r and through:
                        was = True
                    e = _locks[key] = [b, 0, was, key]
                    if weak:
                        e[0] = weakref.ref(b, lambda _, e=e: release([e], died=True))
                e[1] += 1
                held.append(e)
    finally:
        _exit()
    return held


def lock1(a):
    """``lock((a,))``, fast when ``a`` is locked already (a leaf saved by many nodes)."""
    e = _get(id(a))
    if e is not None and e[0] is a:
        _acquire()
        n = e[1]  # (0: released meanwhile)
        if n:
            e[1] = n + 1
        _guard.release()
        if n:
            return (e,)
    return lock((a,))


def release_all(helds):
    """``release`` of each of ``helds``, under one taking of the guard."""
    _guard.acquire()
    try:
        _unlock([e for held in helds for e in held])
        if _pending:
            _drain()
    finally:
        _exit()


def release(held, died=False):
    """Release locks (what ``lock`` returned). Safe anywhere, a finalizer included: where
    the guard is taken, the release waits for its holder. ``died``: a weakly locked
    array died, and its entry goes whatever its count."""
    if died:
        held[0][1] = 1
    if _guard.acquire(blocking=False):
        try:
            _unlock(held)
            if _pending:
                _drain()
        finally:
            _exit()
    else:
        _pending.append(held)


def _unlock(held):
    for e in held:
        e[1] -= 1
        if e[1] or _get(e[3]) is not e:
            continue
        del _locks[e[3]]
        b = e[0]
        if type(b) is weakref.ref:
            b = b()
        if e[2] and b is not None:
            _restore(b)


def _restore(b):
    """Make ``b`` writable again, and the views that waited for it."""
    try:
        b.flags.writeable = True
    except ValueError:  # a view whose owner is still locked: it comes back with it
        r = root(b)
        if id(r) in _locks:
            _waiting.setdefault(id(r), []).append(b)
        return
    for view in _waiting.pop(id(b), ()):
        _restore(view)


def _inherits(view):
    """Whether a read-only view of a locked array is read-only only through it: a plain
    view, not a broadcast one (which numpy makes read-only for good)."""
    return view.size <= 1 or all(view.strides)


def follow(view):
    """Make ``view`` (a tensor's array that is a view, made before its owner was locked)
    read-only while the owner is locked, and writable again with it."""
    if not view.flags.writeable or not _inherits(view):
        return
    r = root(view)
    _guard.acquire()
    try:
        if id(r) in _locks and view.flags.writeable:
            view.flags.writeable = False
            _waiting.setdefault(id(r), []).append(view)
    finally:
        _exit()


def adopt(view):
    """A read-only ``view`` a kernel made of a locked array becomes writable with it."""
    r = root(view)
    _guard.acquire()
    try:
        if id(r) in _locks and _inherits(view):
            _waiting.setdefault(id(r), []).append(view)
    finally:
        _exit()


def _liftable(a, where):
    """The arrays to make writable for a library write into ``a`` (owner first), or a
    ValueError naming ``where`` when ``a`` is read-only for a reason of the user's."""
    r = root(a)
    chain = [b for b in ((r,) if r is a else (r, a)) if not b.flags.writeable]
    for b in chain:
        if not (id(b) in _locks or b is a and id(r) in _locks and _inherits(a)):
            raise ValueError(
                f"{where} is read-only, and not because a graph holds it (its array was made "
                "read-only outside pyautodiff, or is a broadcast view); give the tensor a "
                "writable array of its own: t.data = t.numpy().copy()"
            )
    return chain


def check_writable(a, where):
    """Raise ValueError (naming ``where``) unless the library may write into ``a``."""
    if not a.flags.writeable:
        with _guard:
            _liftable(a, where)


class writing:
    """``with writing(a, where):`` the library writes into array ``a`` (an in-place
    update, an optimizer step): locks of ours are lifted for the write, and the write
    counts as a new version of the memory (``bump``).

    Examples
    --------
    >>> import numpy as np
    >>> from pyautodiff import memory
    >>> a = np.zeros(2)
    >>> with memory.writing(a, "the example"):
    ...     a += 1
    >>> memory.version(a)
    1
    """

    __slots__ = ("lifted", "target", "where")

    def __init__(self, a, where):
        self.target = a
        self.where = where
        self.lifted = ()

    def __enter__(self):
        a = self.target
        if not a.flags.writeable:
            _guard.acquire()
            try:
                self.lifted = _liftable(a, self.where)
                for b in self.lifted:
                    b.flags.writeable = True
            finally:
                _exit()
        return a

    def __exit__(self, failed, *exc):
        for b in reversed(self.lifted):  # (views first, then their owner)
            b.flags.writeable = False
        if failed is None:  # (numpy checks shapes and indices before it writes)
            bump(self.target)
        return False
