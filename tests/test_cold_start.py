"""Start-up work that `mavi-mcp` skips or defers to answer `tools/list` sooner (benchmarks/perf_bench.py measures it):
the collector paused while the server is built (`cli.collector_paused`, `cli.started`), bundle fields' None check
read from the type (`tools._params._allows_none`). The published tools staying the same is tested in
tests/test_schemas.py."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any, Literal, Optional

import pydantic
import pytest

from mavi_mcp.cli import collector_paused, main, started
from mavi_mcp.options import Bundle
from mavi_mcp.tools._params import _allows_none  # pyright: ignore[reportPrivateUsage]


@pytest.fixture
def frozen_reset() -> Iterator[None]:
    """Whatever a test freezes goes back to the collector's generations afterwards (the pytest process lives on)."""
    yield
    gc.unfreeze()
    gc.enable()


def failing_start_up() -> None:
    with collector_paused():
        assert not gc.isenabled()
        raise RuntimeError("start-up failed")


def test_the_pause_ends_with_the_block_even_when_start_up_fails(frozen_reset: None) -> None:
    assert gc.isenabled()
    with pytest.raises(RuntimeError, match="start-up failed"):
        failing_start_up()
    assert gc.isenabled()
    with collector_paused(paused=False):  # commands for people and --check: never paused
        assert gc.isenabled()


def test_serving_resumes_collection_with_what_start_up_built_frozen(frozen_reset: None) -> None:
    with collector_paused():
        built = [[n] for n in range(1000)]  # long-lived start-up objects
        started()
        assert gc.isenabled()
        assert gc.get_freeze_count() >= len(built)
    frozen = gc.get_freeze_count()
    started()  # already resumed: a second call freezes nothing more
    assert gc.isenabled()
    assert gc.get_freeze_count() == frozen


def test_a_server_that_cannot_start_leaves_collection_on(tmp_path: Path, frozen_reset: None) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("in the way")
    with pytest.raises(SystemExit) as stopped:
        main(["--data-dir", str(blocker / "data")])  # the data dir is under a file: refused before serving
    assert stopped.value.code == 2
    assert gc.isenabled()
    assert gc.get_freeze_count() == 0


def pydantic_accepts_none(annotation: Any) -> bool:
    try:
        pydantic.TypeAdapter(annotation).validate_python(None)
    except pydantic.ValidationError:
        return False
    return True


def every_bundle() -> list[type[Bundle]]:
    found: list[type[Bundle]] = []
    todo = [Bundle]
    while todo:
        bundle = todo.pop()
        found.append(bundle)
        todo.extend(bundle.__subclasses__())
    return found


def test_a_bundle_fields_none_check_agrees_with_pydantic_for_every_field_and_the_corner_cases() -> None:
    fields = [info.annotation for bundle in every_bundle() for info in bundle.model_fields.values()]
    assert len(fields) > 20  # the page options and both providers' options
    corner: list[Any] = [int, int | None, Optional[str], Any, None, type(None), Literal["a", None], Literal["a"]]  # noqa: UP045
    corner += [list[int] | None, Annotated[int, pydantic.Field(ge=0)] | None, dict[str, int], str | int]
    for annotation in fields + corner:
        assert _allows_none(annotation) == pydantic_accepts_none(annotation), annotation


def test_building_the_server_leaves_the_wire_transcript_and_option_models_unbuilt(tmp_path: Path) -> None:
    """Their validators are built on first use (`defer_build`): a fresh process that builds the server and lists
    its tools has built none of them, and validating one afterwards builds it."""
    import subprocess
    import sys
    import textwrap

    script = textwrap.dedent(
        """
        import anyio
        from mavi_mcp import options, transcript, wire
        from mavi_mcp.server import create_server
        from mavi_mcp.settings import Settings

        server = create_server(Settings(data_dir=DATA))
        assert len(anyio.run(server.list_tools)) >= 13
        models = [wire.SpeakerData, wire.CallbackEnvelope, transcript.Segment, transcript.Transcript,
                  options.AssemblyAIOptions, options.ElevenLabsOptions]
        print(sorted(m.__name__ for m in models if m.__pydantic_complete__))
        wire.SpeakerData.model_validate({"items": []})
        print(wire.SpeakerData.__pydantic_complete__)
        """
    ).replace("DATA", repr(str(tmp_path)))
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=False)
    assert run.returncode == 0, run.stderr
    assert run.stdout.split("\n")[:2] == ["[]", "True"]
