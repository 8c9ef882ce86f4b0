# Contactor with auxiliary feedback: command, settle time, welded and failed-to-close.
import asyncio

from evse_rig import MirrorFeedback
from fakes import FakePinOut

from firmware.drivers import contactor as contactor_mod
from firmware.drivers.contactor import Contactor


def _contactor():
    coil = FakePinOut()
    feedback = MirrorFeedback(coil)
    c = Contactor(coil, feedback)
    c.feedback_timeout_ms = 20
    return c, coil, feedback


async def test_agreeing_feedback_is_no_fault():
    c, coil, _ = _contactor()
    assert c.close() and coil.v == 1
    await asyncio.sleep_ms(30)
    assert c.check() is None and c.contacts_closed
    c.open()
    await asyncio.sleep_ms(30)
    assert c.check() is None and coil.v == 0


async def test_disagreement_inside_the_settle_time_is_not_yet_a_fault():
    c, _, feedback = _contactor()
    feedback.stuck = 0
    c.close()
    assert c.check() is None
    await asyncio.sleep_ms(30)
    assert c.check() == contactor_mod.FAILED_TO_CLOSE


async def test_welded_latches_and_refuses_to_close_until_cleared():
    c, coil, feedback = _contactor()
    faults = []
    c.on_fault = lambda x: faults.append(x.fault)
    c.close()
    feedback.stuck = 1
    c.open()
    await asyncio.sleep_ms(30)
    assert c.check() == contactor_mod.WELDED and faults == ["welded"]
    assert not c.close() and coil.v == 0
    assert not c.clear()  # still reads closed
    feedback.stuck = None
    assert c.clear() and c.fault is None and faults == ["welded", None]
    assert c.close()


async def test_monitor_task_detects_without_being_asked():
    c, _, feedback = _contactor()
    c.poll_ms = 5
    c.start()
    feedback.stuck = 0
    c.close()
    await asyncio.sleep_ms(60)
    c.deinit()
    assert c.fault == contactor_mod.FAILED_TO_CLOSE and not c.closed


def test_without_feedback_the_command_is_trusted():
    coil = FakePinOut()
    c = Contactor(coil)
    c.close()
    assert c.contacts_closed and c.check() is None
