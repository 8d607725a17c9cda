"""Multi-speaker callback -> `Transcript` with named speakers and faces.

Shape: `async-generate-multi-speaker` callback `data.data.audio_transcription[] {start_time, end_time, speaker,
text}` where `speaker` is a NAME, `faces[]`, and `usage_metadata` an ARRAY (001_e522976c290095e0.txt).
Times are SECONDS. The speaker's name is both its label and its name.
"""

from __future__ import annotations

from mavi_mcp.normalize._assemble import Context, RawSegment, assemble
from mavi_mcp.transcript import Extras, Transcript
from mavi_mcp.wire import MultiSpeakerCallbackResult


def normalize_multi_speaker_callback(result: MultiSpeakerCallbackResult, context: Context) -> Transcript:
    """`async-generate-multi-speaker` callback `data.data` -> transcript (provider "multi-speaker")."""
    usage = result.usage_metadata
    usage_list = usage if isinstance(usage, list) else [usage] if usage is not None else []
    raw = [
        RawSegment(start=s.start_time, end=s.end_time, speaker=(s.speaker or "").strip() or None, text=s.text)
        for s in result.audio_transcription
    ]
    names = {r.speaker: r.speaker for r in raw if r.speaker}
    models = sorted({u.model for u in usage_list if u.model})
    return assemble(
        raw,
        provider="multi-speaker",
        endpoint="async-generate-multi-speaker",
        model=", ".join(models) or context.model,
        context=context,
        names=names,
        extras=Extras(
            usage=[u.model_dump(exclude_none=True) for u in usage_list] or None,
            faces=[f.model_dump(exclude_none=True) for f in result.faces] or None,
        ),
    )
