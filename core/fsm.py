"""A small finite-state machine: a transition map and a current state."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Generic, TypeVar

S = TypeVar("S")


class IllegalTransition(Exception):
    """Raised when a transition is not in the map."""

    def __init__(self, current: object, target: object) -> None:
        super().__init__(f"cannot go from {current} to {target}")
        self.current = current
        self.target = target


class FSM(Generic[S]):
    """FSM(transition_map, initial_state); `transition(target)` raises IllegalTransition if not allowed."""

    def __init__(self, transition_map: Mapping[S, Iterable[S]], initial_state: S) -> None:
        self._map: dict[S, frozenset[S]] = {k: frozenset(v) for k, v in transition_map.items()}
        self._state = initial_state

    @property
    def state(self) -> S:
        return self._state

    def allowed(self) -> frozenset[S]:
        return self._map.get(self._state, frozenset())

    def can(self, target: S) -> bool:
        return target in self.allowed()

    def transition(self, target: S) -> S:
        if not self.can(target):
            raise IllegalTransition(self._state, target)
        self._state = target
        return target
