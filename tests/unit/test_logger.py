"""sentry.logger: records at or above the threshold reach logging, others never do (and
never import it)."""

import logging
import subprocess
import sys

import pytest

from sentry import logger


@pytest.fixture
def threshold():
    yield logger.set_threshold
    logger.set_threshold(logger.WARNING)


def test_records_at_or_above_the_threshold_pass(caplog, threshold):
    log = logger.get("sentry.test")
    with caplog.at_level(logging.DEBUG, logger="sentry"):
        log.debug("d %d", 1)
        log.warning("w %s", "x")
        threshold(logger.DEBUG)
        log.debug("d %d", 2)
        log.info("i")
    assert [(r.levelno, r.getMessage()) for r in caplog.records] == [
        (logging.WARNING, "w x"), (logging.DEBUG, "d 2"), (logging.INFO, "i")]


def test_off_passes_nothing(caplog, threshold):
    threshold(logger.OFF)
    with caplog.at_level(logging.DEBUG, logger="sentry"):
        logger.get("sentry").error("e")
        logger.get("sentry").exception("x")
    assert caplog.records == []


def test_exception_carries_the_traceback(caplog, threshold):
    with caplog.at_level(logging.DEBUG, logger="sentry"):
        try:
            raise ValueError("boom")
        except ValueError:
            logger.get("sentry").exception("failed %s", "here")
    (rec,) = caplog.records
    assert rec.levelno == logging.ERROR and rec.getMessage() == "failed here"
    assert rec.exc_info is not None and rec.exc_info[0] is ValueError


def test_logging_is_imported_only_for_a_record_that_passes():
    code = ("import sys; from sentry import logger; log = logger.get('sentry'); "
            "log.debug('x'); log.info('y'); a = 'logging' in sys.modules; "
            "logger.set_threshold(logger.OFF); log.error('z'); b = 'logging' in sys.modules; "
            "logger.set_threshold(logger.WARNING); log.warning('w'); "
            "print(a, b, 'logging' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=60)
    assert out.stdout.split() == ["False", "False", "True"]
    assert out.stderr == "w\n"  # logging's last resort: stderr, as without configuration
