"""Where an answer came from when it was not asked live, in the words both demos' footers use.

A stream from `lib.answers` says "rehearsal", "cache" or "shared" (`replayed_from`); the tool loop and the vision
answer keep that label, and their footers add the note below. Imports nothing.
"""

NOTES = {
    "rehearsal": "replayed from rehearsal",
    "cache": "answered from the cache: no quota used",
    "shared": "shared with the same question asked at the same moment: no quota used",
}


def replayed_note(label: str) -> str:
    """The footer's note for a replayed answer's label ("" for a live one or an unknown label)."""
    return NOTES.get(label, "")
