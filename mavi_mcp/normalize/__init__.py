"""Normalizers: one pure function per MAVI response shape, each wire model -> the canonical `Transcript`.

| shape | function |
| --- | --- |
| `sync-generate-speaker` `data` | `normalize_speaker_turns` |
| `async-generate-speaker` callback `data.data` | `normalize_speaker_callback` |
| `sync-generate-audio` `data` | `normalize_whisper` |
| `async-generate-audio` callback `data.data` | `normalize_whisper_callback` |
| `async-generate-multi-speaker` callback `data.data` | `normalize_multi_speaker_callback` |
| `speech-to-text` assemblyai `data` (MILLISECONDS) | `normalize_assemblyai` |
| `speech-to-text` elevenlabs `data` | `normalize_elevenlabs` |

Each raises `mavi_mcp.errors.ResultError` when the body cannot become a valid transcript. The model a body does not
name comes from `Context.model`. Which normalizer reads which endpoint's answer is decided once, in `mavi_mcp.shapes`.
"""

from mavi_mcp.normalize._assemble import Context
from mavi_mcp.normalize.assemblyai import normalize_assemblyai
from mavi_mcp.normalize.elevenlabs import normalize_elevenlabs
from mavi_mcp.normalize.multi_speaker import normalize_multi_speaker_callback
from mavi_mcp.normalize.speakers import normalize_speaker_callback, normalize_speaker_turns
from mavi_mcp.normalize.whisper import normalize_whisper, normalize_whisper_callback

__all__ = [
    "Context",
    "normalize_assemblyai",
    "normalize_elevenlabs",
    "normalize_multi_speaker_callback",
    "normalize_speaker_callback",
    "normalize_speaker_turns",
    "normalize_whisper",
    "normalize_whisper_callback",
]
