"""Request bodies for `speech-to-text`, validated before any paid request is sent.

`AssemblyAIOptions` follows the vendor page 004_d5a1143acd9404eb.txt field by field (times in MILLISECONDS
for `audio_start_from` / `audio_end_at`), plus the combinations AssemblyAI itself rejects. `ElevenLabsOptions`
follows ../shared/mavi-api/README.md ("Transcription endpoints"). Both check "exactly one audio source":
`asset_id`, `url` (public http(s) audio URL) or `source_url` (`gs://` path or http(s) URL).

`to_body()` gives the JSON body without unset options, so MAVI and the provider apply their own defaults.
Invalid combinations raise `InputError` listing every problem at once.
"""

from __future__ import annotations

from typing import Any, Literal, Self
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, model_validator

from mavi_mcp.errors import InputError

SummaryModel = Literal["informative", "conversational"]
SummaryType = Literal["bullets", "bullets_verbose", "headline", "paragraph", "gist"]
RedactSub = Literal["hash", "entity_name"]
AudioQuality = Literal["mp3", "wav"]
BoostParam = Literal["low", "default", "high"]
Granularity = Literal["none", "segment", "word"]
FileFormat = Literal["pcm_s16le_16", "other"]


class CustomSpelling(BaseModel):
    """AssemblyAI custom spelling: every spelling in `from` is written as `to`."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    from_: list[str] = Field(alias="from", min_length=1, description="Spellings to replace.")
    to: str = Field(min_length=1, description="The spelling to use instead.")


class _Source(BaseModel):
    model_config = ConfigDict(extra="forbid")

    asset_id: str | None = None
    url: str | None = None
    source_url: str | None = None

    def _source_problems(self) -> list[str]:
        problems: list[str] = []
        given = [name for name in ("asset_id", "url", "source_url") if getattr(self, name)]
        if len(given) != 1:
            shown = ", ".join(given) if given else "none"
            problems.append(
                f"give exactly one audio source: asset_id (from upload_media), url or source_url (got {shown})"
            )
        if self.url and urlsplit(self.url).scheme not in ("http", "https"):
            problems.append("url must be a public http(s) URL of the audio")
        if self.source_url and urlsplit(self.source_url).scheme not in ("http", "https", "gs"):
            problems.append("source_url must be a gs:// path or an http(s) URL")
        return problems

    def to_body(self) -> dict[str, Any]:
        return self.model_dump(exclude_none=True, by_alias=True)


def _raise(problems: list[str], provider: str) -> None:
    if problems:
        raise InputError(f"Invalid {provider} request: " + "; ".join(problems) + ". Nothing was sent or billed.")


class AssemblyAIOptions(_Source):
    """`speech-to-text` with `provider: "assemblyai"` (004_d5a1143acd9404eb.txt). $0.15 per hour of audio."""

    language_code: str | None = None
    punctuate: bool | None = None
    format_text: bool | None = None
    speaker_labels: bool | None = None
    speakers_expected: int | None = Field(default=None, ge=1, le=50)
    language_detection: bool | None = None
    language_confidence_threshold: float | None = Field(default=None, ge=0, le=1)
    speech_model: str | None = None
    speech_threshold: float | None = Field(default=None, ge=0, le=1)
    disfluencies: bool | None = None
    sentiment_analysis: bool | None = None
    entity_detection: bool | None = None
    auto_highlights: bool | None = None
    content_safety: bool | None = None
    iab_categories: bool | None = None
    auto_chapters: bool | None = None
    summarization: bool | None = None
    summary_model: SummaryModel | None = None
    summary_type: SummaryType | None = None
    redact_pii: bool | None = None
    redact_pii_policies: list[str] | None = None
    redact_pii_sub: RedactSub | None = None
    redact_pii_audio: bool | None = None
    redact_pii_audio_quality: AudioQuality | None = None
    filter_profanity: bool | None = None
    word_boost: list[str] | None = None
    boost_param: BoostParam | None = None
    custom_spelling: list[CustomSpelling] | None = None
    webhook_url: str | None = None
    multichannel: bool | None = None
    audio_start_from: int | None = Field(default=None, ge=0)
    audio_end_at: int | None = Field(default=None, ge=0)
    custom_topics: bool | None = None
    topics: list[str] | None = None

    @model_validator(mode="after")
    def _combinations(self) -> Self:
        p = self._source_problems()
        if self.speakers_expected is not None and not self.speaker_labels:
            p.append("speakers_expected needs speaker_labels=true")
        if self.language_code and self.language_detection:
            p.append("give language_code or language_detection=true, not both")
        if self.language_confidence_threshold is not None and not self.language_detection:
            p.append("language_confidence_threshold needs language_detection=true")
        if (self.summary_model or self.summary_type) and not self.summarization:
            p.append("summary_model and summary_type need summarization=true")
        if self.summarization and self.auto_chapters:
            p.append("AssemblyAI does not allow summarization and auto_chapters together; choose one")
        if self.redact_pii and not self.redact_pii_policies:
            p.append("redact_pii=true needs redact_pii_policies, e.g. ['person_name', 'phone_number']")
        if (self.redact_pii_policies or self.redact_pii_sub or self.redact_pii_audio) and not self.redact_pii:
            p.append("redact_pii_policies, redact_pii_sub and redact_pii_audio need redact_pii=true")
        if self.redact_pii_audio_quality and not self.redact_pii_audio:
            p.append("redact_pii_audio_quality needs redact_pii_audio=true")
        if self.boost_param and not self.word_boost:
            p.append("boost_param needs word_boost")
        if self.topics and not self.custom_topics:
            p.append("topics needs custom_topics=true")
        if self.webhook_url and urlsplit(self.webhook_url).scheme not in ("http", "https"):
            p.append("webhook_url must be an http(s) URL")
        if (
            self.audio_start_from is not None
            and self.audio_end_at is not None
            and self.audio_end_at <= self.audio_start_from
        ):
            p.append("audio_end_at (ms) must be after audio_start_from (ms)")
        _raise(p, "AssemblyAI")
        return self


class ElevenLabsOptions(_Source):
    """`speech-to-text` with `provider: "elevenlabs"` (../shared/mavi-api/README.md). $0.39 per hour."""

    language_code: str | None = None
    model_id: str | None = None
    diarize: bool | None = None
    timestamps_granularity: Granularity | None = None
    tag_audio_events: bool | None = None
    num_speakers: int | None = Field(default=None, ge=1, le=32)
    file_format: FileFormat | None = None
    source_lang: str | None = None
    target_lang: str | None = None

    @model_validator(mode="after")
    def _combinations(self) -> Self:
        p = self._source_problems()
        if self.num_speakers is not None and self.diarize is False:
            p.append("num_speakers needs diarize=true")
        if self.target_lang and not self.source_lang and not self.language_code:
            p.append("target_lang needs source_lang (or language_code)")
        _raise(p, "ElevenLabs")
        return self
