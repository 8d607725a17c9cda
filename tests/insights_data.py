"""Provider answers with insights, derived from the bundled recordings for the insights tests.

The bundled AssemblyAI answers were requested without the audio-intelligence options, so their feature results
are absent. `assemblyai_with_insights()` adds them to the Costco call (4474506) in the shapes AssemblyAI
documents (transcript object: `summary`, `chapters`, `entities`, `auto_highlights_result`,
`sentiment_analysis_results`, `iab_categories_result`, `content_safety_labels`, `language_confidence`), with
times in MILLISECONDS taken from the call's own words; the labels and numbers are made up for the tests.
`multi_speaker_with_faces()` adds faces in the vendor's documented shape (001_e522976c290095e0.txt).
"""

from __future__ import annotations

import json
from typing import Any

from tests import data


def assemblyai_with_insights() -> bytes:
    body = data.load(data.ASSEMBLYAI, "4474506")
    d: dict[str, Any] = body["data"]
    u = d["utterances"]
    d["summary"] = "- Costco reported Q1 results.\n- Analysts asked about the membership fee increase."
    d["chapters"] = [
        {"start": u[0]["start"], "end": u[3]["end"], "headline": "Opening", "gist": "Welcome", "summary": "Intro."},
        {"start": 2763750, "end": 2783780, "headline": "Fee increase", "gist": "Membership fee", "summary": "Q&A."},
    ]
    d["entities"] = [
        {"entity_type": "person_name", "text": "Richard Galanti", "start": 22000, "end": 23100},
        {"entity_type": "organization", "text": "Costco", "start": 40000, "end": 40500},
        {"entity_type": "organization", "text": "Costco", "start": 90000, "end": 90400},
    ]
    d["auto_highlights_result"] = {
        "status": "success",
        "results": [
            {"count": 3, "rank": 0.09, "text": "fee increase", "timestamps": [{"start": 2766000, "end": 2767000}]}
        ],
    }
    d["sentiment_analysis_results"] = [
        {
            "text": x["text"][:200],
            "start": x["start"],
            "end": x["end"],
            "sentiment": s,
            "confidence": 0.9,
            "speaker": x["speaker"],
        }
        for x, s in zip(u[:6], ["NEUTRAL", "POSITIVE", "POSITIVE", "NEGATIVE", "NEUTRAL", "POSITIVE"], strict=True)
    ]
    d["iab_categories_result"] = {
        "status": "success",
        "results": [
            {
                "text": u[1]["text"][:100],
                "labels": [{"relevance": 0.91, "label": "Business>Earnings"}],
                "timestamp": {"start": u[1]["start"], "end": u[1]["end"]},
            }
        ],
        "summary": {"Business>Earnings": 0.97, "Shopping>Retail": 0.42},
    }
    d["content_safety_labels"] = {
        "status": "success",
        "results": [
            {
                "text": u[2]["text"][:100],
                "labels": [{"label": "financial", "confidence": 0.8, "severity": 0.2}],
                "sentences_idx_start": 0,
                "sentences_idx_end": 1,
                "timestamp": {"start": u[2]["start"], "end": u[2]["end"]},
            }
        ],
        "summary": {"financial": 0.61},
        "severity_score_summary": {"financial": {"low": 0.9, "medium": 0.1, "high": 0.0}},
    }
    d["language_confidence"] = 0.98
    return json.dumps(body).encode()


def multi_speaker_with_faces() -> bytes:
    body = data.load(data.MULTI_SPEAKER_CALLBACK, "4320211")
    body["data"]["data"]["faces"] = [
        {
            "face_id": "9e545636-509a-4a7d-b7c8-6359ea6a6d8b_person_001",
            "name": "Brett Ponton",
            "face_file_protocol": "gs",
            "face_file_bucket": "memories-cache",
            "face_file_blob": "api-backend/9e545636_batch_1_video_9_person_001.jpg",
        },
        {"face_id": "9e545636_person_002", "name": "Someone Else", "face_file_bucket": "b", "face_file_blob": "x.jpg"},
    ]
    return json.dumps(body).encode()
