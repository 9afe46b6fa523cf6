from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.support.harness import Gateway, start_gateway
from tests.support.sink import Sink


@pytest.fixture
async def sink() -> AsyncIterator[Sink]:
    s = await Sink().start()
    yield s
    await s.stop(hold=False)


@pytest.fixture
async def gateway(tmp_path: Path, sink: Sink) -> AsyncIterator[Gateway]:
    gw = await start_gateway(tmp_path, sink.port)
    yield gw
    await gw.close()
