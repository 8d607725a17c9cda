"""Request bodies for `speech-to-text`, validated before any paid request is sent.

`AssemblyAIOptions` follows the vendor page 004_d5a1143acd9404eb.txt field by field (times in MILLISECONDS
for `audio_start_from` / `audio_end_at`), plus the combinations AssemblyAI itself rejects. `ElevenLabsOptions`
follows ../shared/mavi-api/README.md ("Transcription endpoints"). Both check "exactly one audio source":
`asset_id`, `url` (public http(s) audio URL) or `source_url` (`gs://` path or http(s) URL).

These models are declared once and feed the tools' parameters (`tools._params.expand_bundles`): each field's type,
constraints and description is what the agent sees. `to_body()` gives the JSON body without unset options, so MAVI
and the provider apply their own defaults. Invalid combinations raise one `ValueError` listing every problem (pydantic
reports it as a validation error; `tools._params.build_bundle` turns it into the agent's message).
"""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal, Self
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, model_validator

SummaryModel = Literal["informative", "conversational"]
SummaryType = Literal["bullets", "bullets_verbose", "headline", "paragraph", "gist"]
RedactSub = Literal["hash", "entity_name"]
AudioQuality = Literal["mp3", "wav"]
BoostParam = Literal["low", "default", "high"]
Granularity = Literal["none", "segment", "word"]
FileFormat = Literal["pcm_s16le_16", "other"]


# AssemblyAI custom spelling: every spelling in `from` is written as `to`. No docstring nor field descriptions:
# pydantic would publish them in the tool's schema, where the `custom_spelling` parameter's example says it once.
class CustomSpelling(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    from_: list[str] = Field(alias="from", min_length=1)
    to: str = Field(min_length=1)


class Bundle(BaseModel):
    """Base of parameter bundles (options a tool takes as flat parameters): strict and frozen; `label` names the
    bundle in error messages ("Invalid AssemblyAI request: ..."). Its validator is built on the first call that
    uses it (the tools' published parameters come from the flattened fields, not from the bundle)."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True, defer_build=True)
    label: ClassVar[str] = "arguments"


OptBool = bool | None


class _Source(Bundle):
    asset_id: str | None = Field(default=None, max_length=200, description="From upload_media.")
    url: str | None = Field(default=None, max_length=4000, description="Public http(s) audio URL.")
    source_url: str | None = Field(default=None, max_length=4000, description="gs:// path or http(s) URL.")

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


def _raise(problems: list[str]) -> None:
    """Every problem at once, as one `ValueError` (pydantic reports it; `tools._params.build_bundle` words it)."""
    if problems:
        raise ValueError("; ".join(problems))


class AssemblyAIOptions(_Source):
    """`speech-to-text` with `provider: "assemblyai"` (004_d5a1143acd9404eb.txt). $0.15 per hour of audio."""

    label: ClassVar[str] = "AssemblyAI request"

    speaker_labels: OptBool = Field(default=None, description="Label speakers.")
    speakers_expected: int | None = Field(default=None, ge=1, le=50, description="Needs speaker_labels.")
    language_code: str | None = Field(default=None, max_length=20, description="e.g. en, es; omit to detect.")
    language_detection: OptBool = None
    language_confidence_threshold: float | None = Field(
        default=None, ge=0, le=1, description="Needs language_detection."
    )
    punctuate: OptBool = Field(default=None, description="Default true.")
    format_text: OptBool = Field(default=None, description="Numbers, dates; default true.")
    disfluencies: OptBool = Field(default=None, description="Keep um, uh.")
    filter_profanity: OptBool = None
    speech_model: str | None = Field(default=None, max_length=100)
    speech_threshold: float | None = Field(
        default=None, ge=0, le=1, description="Reject audio with a smaller share of speech."
    )
    multichannel: OptBool = Field(default=None, description="Each channel apart.")
    audio_start_from: int | None = Field(default=None, ge=0, description="MILLISECONDS; billed from here.")
    audio_end_at: int | None = Field(default=None, ge=0, description="MILLISECONDS.")
    word_boost: list[Annotated[str, Field(max_length=100)]] | None = Field(
        default=None, max_length=1000, description="Words to favour."
    )
    boost_param: BoostParam | None = Field(default=None, description="Needs word_boost.")
    custom_spelling: list[CustomSpelling] | None = Field(
        default=None, max_length=500, description='[{"from": ["sequel"], "to": "SQL"}]'
    )
    summarization: OptBool = Field(default=None, description="Not with auto_chapters.")
    summary_model: SummaryModel | None = Field(default=None, description="Needs summarization.")
    summary_type: SummaryType | None = Field(default=None, description="Needs summarization.")
    auto_chapters: OptBool = Field(default=None, description="Not with summarization.")
    auto_highlights: OptBool = Field(default=None, description="Key phrases.")
    entity_detection: OptBool = None
    sentiment_analysis: OptBool = None
    iab_categories: OptBool = Field(default=None, description="IAB topics.")
    content_safety: OptBool = None
    custom_topics: OptBool = Field(default=None, description="Needs topics.")
    topics: list[Annotated[str, Field(max_length=200)]] | None = Field(
        default=None, max_length=100, description="Needs custom_topics."
    )
    redact_pii: OptBool = Field(default=None, description="Needs redact_pii_policies.")
    redact_pii_policies: list[Annotated[str, Field(max_length=100)]] | None = Field(
        default=None, max_length=100, description="e.g. person_name, phone_number."
    )
    redact_pii_sub: RedactSub | None = Field(default=None, description="Needs redact_pii.")
    redact_pii_audio: OptBool = Field(default=None, description="Needs redact_pii.")
    redact_pii_audio_quality: AudioQuality | None = None
    webhook_url: str | None = Field(
        default=None,
        max_length=4000,
        description="AssemblyAI's own webhook; rarely needed.",
    )

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
        _raise(p)
        return self


class ElevenLabsOptions(_Source):
    """`speech-to-text` with `provider: "elevenlabs"` (../shared/mavi-api/README.md). $0.39 per hour."""

    label: ClassVar[str] = "ElevenLabs request"

    language_code: str | None = Field(default=None, max_length=20, description="ISO 639 code; omit to detect.")
    model_id: str | None = Field(default=None, max_length=100, description="Default scribe_v2.")
    diarize: OptBool = Field(default=None, description="Label speakers.")
    num_speakers: int | None = Field(default=None, ge=1, le=32, description="Most speakers expected.")
    timestamps_granularity: Granularity | None = Field(default=None, description="Default word.")
    tag_audio_events: OptBool = Field(default=None, description="(laughter), (applause)...")
    file_format: FileFormat | None = Field(default=None, description="pcm_s16le_16: raw 16 kHz PCM.")
    source_lang: str | None = Field(default=None, max_length=20, description="Source language.")
    target_lang: str | None = Field(default=None, max_length=20, description="Target language.")

    @model_validator(mode="after")
    def _combinations(self) -> Self:
        p = self._source_problems()
        if self.num_speakers is not None and self.diarize is False:
            p.append("num_speakers needs diarize=true")
        if self.target_lang and not self.source_lang and not self.language_code:
            p.append("target_lang needs source_lang (or language_code)")
        _raise(p)
        return self
