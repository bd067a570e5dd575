"""ProgressTap: kfp.local's coloured log lines become step records and one terminal line per event."""

from __future__ import annotations

import io

import pytest

from pipelines.progress import ProgressTap, StepRecord

CYAN, GREEN, RED, RESET = "\x1b[96m", "\x1b[92m", "\x1b[91m", "\x1b[0m"


def _name(task: str) -> str:
    return f"{CYAN}'{task}'{RESET}"


START_TRAIN = f"10:00:00.001 - INFO - Executing task {_name('train')}\n"
FINISH_TRAIN = f"10:00:12.501 - INFO - Task {_name('train')} finished with status {GREEN}SUCCESS{RESET}\n"
CACHED_INGEST = "10:00:00.000 - INFO - Task ingest cache hit (key=abc); skipping execution.\n"
START_EVAL = f"10:00:13.000 - INFO - Executing task {_name('resolve-baseline')}\n"
FAIL_EVAL = f"10:00:14.000 - ERROR - Task {_name('resolve-baseline')} finished with status {RED}FAILURE{RESET}\n"
TF_ERROR = "tensorflow.python.framework.errors_impl.InvalidArgumentError"
EXCEPTION = f"    {TF_ERROR}: Feature: region (data type: string) is required\n"


class FakeClock:
    """A clock the test moves by hand."""

    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def streams() -> tuple[io.StringIO, io.StringIO]:
    return io.StringIO(), io.StringIO()


def test_steps_terminal_lines_and_full_log(streams):
    log, terminal = streams
    clock = FakeClock(100.0)
    tap = ProgressTap(log, terminal, clock=clock)
    writes = [
        (100.0, CACHED_INGEST + START_TRAIN + "    Epoch 1/2 lots of keras output\n"),
        (112.5, FINISH_TRAIN),
        (200.0, START_EVAL),
        (203.5, FAIL_EVAL),
    ]
    for now, text in writes:
        clock.now = now
        assert tap.write(text) == len(text)
    text = "".join(t for _, t in writes)

    assert tap.steps == {
        "ingest": StepRecord(cached=True, seconds=0.0, status="SUCCESS"),
        "train": StepRecord(cached=False, seconds=12.5, status="SUCCESS"),
        "resolve-baseline": StepRecord(cached=False, seconds=3.5, status="FAILURE"),
    }
    lines = terminal.getvalue().splitlines()
    assert len(lines) == 5  # one line per event, nothing of the noise in between
    assert lines[0].split() == ["✓", "ingest", "cached"]
    assert lines[1].split() == ["▸", "train", "started"]
    assert lines[2].split() == ["✓", "train", "ran", "12.5", "s"]
    assert lines[3].split() == ["▸", "resolve-baseline", "started"]
    assert lines[4].split() == ["✗", "resolve-baseline", "failure", "3.5", "s"]
    assert "\x1b" not in terminal.getvalue()
    assert "Epoch" not in terminal.getvalue()
    # The log gets every byte, colour codes included.
    assert log.getvalue() == text


def test_partial_writes_across_line_boundaries(streams):
    log, terminal = streams
    clock = FakeClock(1.0)
    tap = ProgressTap(log, terminal, clock=clock)
    text = START_TRAIN + FINISH_TRAIN
    chunks = [text[i : i + 7] for i in range(0, len(text), 7)]  # splits inside ANSI codes and names too
    for chunk in chunks[:-1]:
        tap.write(chunk)
    assert "train" not in tap.steps  # the finish line is not complete yet
    clock.now = 13.5
    tap.write(chunks[-1])
    assert tap.steps == {"train": StepRecord(cached=False, seconds=12.5)}
    assert log.getvalue() == text
    assert len(terminal.getvalue().splitlines()) == 2


def test_unterminated_line_is_not_an_event_yet(streams):
    log, terminal = streams
    tap = ProgressTap(log, terminal, clock=FakeClock())
    tap.write(CACHED_INGEST.rstrip("\n"))
    assert tap.steps == {} and terminal.getvalue() == ""
    assert log.getvalue() == CACHED_INGEST.rstrip("\n")
    tap.write("\n")
    assert tap.steps["ingest"].cached


def test_last_exception_keeps_the_latest_and_is_not_a_step(streams):
    log, terminal = streams
    tap = ProgressTap(log, terminal, clock=FakeClock())
    assert tap.last_exception is None
    tap.write("Traceback (most recent call last):\n    raise ValueError(msg)\nValueError: first problem\n")
    assert tap.last_exception == "ValueError: first problem"
    tap.write(EXCEPTION)
    assert tap.last_exception == f"{TF_ERROR}: Feature: region (data type: string) is required"
    tap.write("an ordinary line mentioning Error without a colon\n")
    assert tap.last_exception.startswith(TF_ERROR)
    assert tap.steps == {} and terminal.getvalue() == ""


def test_works_as_a_logging_stream(streams):
    import logging

    log, terminal = streams
    clock = FakeClock(5.0)
    tap = ProgressTap(log, terminal, clock=clock)
    logger = logging.getLogger("bigtrain-test-progress")
    handler = logging.StreamHandler(tap)
    logger.addHandler(handler)
    logger.propagate = False
    try:
        logger.warning("Executing task %s", _name("push"))
        clock.now = 6.0
        logger.warning("Task %s finished with status %sSUCCESS%s", _name("push"), GREEN, RESET)
    finally:
        logger.removeHandler(handler)
    assert tap.steps == {"push": StepRecord(cached=False, seconds=1.0)}
