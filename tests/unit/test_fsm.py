import pytest

from core.fsm import FSM, IllegalTransition

DOOR = {"closed": ["open", "locked"], "open": ["closed"], "locked": ["closed"]}


def test_allowed_transitions_move_the_state() -> None:
    door = FSM(DOOR, "closed")
    door.transition("open")
    door.transition("closed")
    door.transition("locked")
    assert door.state == "locked"


def test_an_illegal_transition_raises_and_keeps_the_state() -> None:
    door = FSM(DOOR, "locked")
    with pytest.raises(IllegalTransition) as raised:
        door.transition("open")
    assert door.state == "locked"
    assert "locked" in str(raised.value)
    assert "open" in str(raised.value)


def test_a_state_without_exits_allows_nothing() -> None:
    machine = FSM({"a": ["b"]}, "b")
    assert machine.allowed() == frozenset()
    assert not machine.can("a")
