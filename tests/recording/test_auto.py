from __future__ import annotations

import asyncio

from hlsd.db import repo
from hlsd.recording import AutoRecorder
from hlsd.recording.auto import AUTO_ALIAS

from .conftest import Rig
from .test_recorder import settle


async def auto(rig: Rig, *patterns: str) -> AutoRecorder:
    made = AutoRecorder(recorder=rig.recorder, hub=rig.hub, sessions=rig.sessions,
                        patterns=patterns)
    await made.open()
    return made


async def wait_for(condition: object, timeout: float = 2.0) -> None:
    for _ in range(int(timeout / 0.01)):
        if await condition():  # type: ignore[operator]
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the condition never held")


async def test_matching_streams_are_recorded_from_their_first_segment(rig: Rig) -> None:
    recorder = await auto(rig, "cam-*")
    cam, other = rig.publish("cam-1"), rig.publish("studio")
    rig.push(cam, 1)
    rig.push(other, 1)
    rig.push(cam, 2)

    async def started() -> bool:
        return bool(await repo.list_active_recordings(rig.sessions, "cam-1"))
    await wait_for(started)
    [recording] = await repo.list_active_recordings(rig.sessions)  # studio is not recorded
    assert recording.stream == "cam-1" and recording.alias == AUTO_ALIAS
    rows = await settle(rig, recording.id, 3)  # the first segment included
    assert [r.sequence for r in rows] == [0, 1, 2]

    cam.end("")  # the publisher sent ENDLIST
    recorder.sweep()

    async def stopped() -> bool:
        return not (await repo.get_recording(rig.sessions, recording.id)).active
    await wait_for(stopped)

    # The publisher comes back: a new recording.
    cam.restart()
    rig.push(cam, 1)
    await wait_for(started)
    assert len(await repo.list_stream_recordings(rig.sessions, "cam-1")) == 2
    await recorder.close()


async def test_no_patterns_record_nothing(rig: Rig) -> None:
    await auto(rig)
    rig.push(rig.publish("cam-1"), 2)
    await asyncio.sleep(0.05)
    assert await repo.list_recordings(rig.sessions) == []
