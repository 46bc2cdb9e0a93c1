"""The symptom catalog of SPEC §6: every code, its groups, plain words and sources. Pure data.

Groups follow the SPEC table. Three codes (`lightheaded`, `muscle_weakness`, `blurred_vision`)
are both a withdrawal and an overdose sign: too little and too much baclofen can look alike.

`sources` are the tags of `/work/shared/clinical-reference.md` §4 that name the sign. A code whose
sign no source in that file names carries `SPEC_ONLY` instead of an invented tag, so the clinical
lead can see at a glance which entries rest on the product decision alone.

Three kinds of words per code:
- `label`: the check-box text on the form (plain, about 6th grade);
- `hint`: one short sentence under it;
- `phrase`: the same sign as a noun phrase, used inside triage reasons ("a seizure").
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

RED_FLAG = "red_flag"
WITHDRAWAL_GROUP = "withdrawal"
OVERDOSE_GROUP = "overdose"
DEVICE_GROUP = "device"
COMMON_GROUP = "common"
GROUPS = (RED_FLAG, WITHDRAWAL_GROUP, OVERDOSE_GROUP, DEVICE_GROUP, COMMON_GROUP)

SPEC_ONLY = "SPEC §6"  # no source in clinical-reference.md names this sign

# Headings of the check-in form, in the order they are shown: danger signs first.
HEADINGS: tuple[tuple[str, str], ...] = (
    ("danger", "Danger signs"),
    ("body", "Changes in your muscles and body"),
    ("pump", "Your pump, its site and your refill"),
    ("common", "Common side effects"),
)


@dataclass(frozen=True)
class Symptom:
    code: str
    groups: frozenset[str]
    label: str
    hint: str
    phrase: str
    heading: str  # a key of HEADINGS
    sources: tuple[str, ...]

    def as_dict(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "groups": [g for g in GROUPS if g in self.groups],
            "label": self.label,
            "hint": self.hint,
            "heading": self.heading,
            "heading_label": dict(HEADINGS)[self.heading],
            "red_flag": RED_FLAG in self.groups,
            "sources": list(self.sources),
        }


def _s(
    code: str, groups: Iterable[str], label: str, hint: str, phrase: str, heading: str, sources: Iterable[str]
) -> Symptom:
    return Symptom(code, frozenset(groups), label, hint, phrase, heading, tuple(sources))


_R, _W, _O, _D, _C = RED_FLAG, WITHDRAWAL_GROUP, OVERDOSE_GROUP, DEVICE_GROUP, COMMON_GROUP

# In the order of the SPEC §6 table, which is also the order on the form.
SYMPTOMS: tuple[Symptom, ...] = (
    # --- red flags -------------------------------------------------------------------------
    _s("seizure", [_R], "Had a seizure (a fit)", "The body shook or jerked and they could not stop it.",
       "a seizure", "danger", ["S3", "S20", "S11", "S46", "S18"]),
    _s("breathing_trouble", [_R], "Slow, shallow or hard breathing", "Breaths are slow, weak or hard work.",
       "trouble breathing", "danger", ["S3", "S20", "S19", "S11"]),
    _s("hard_to_wake", [_R], "Very sleepy, hard to wake, or does not respond",
       "You shake or call them and they do not wake up well.",
       "being very hard to wake", "danger", ["S3", "S19", "S11", "S20"]),
    _s("confusion", [_R], "Confused, not making sense, or acting very differently",
       "They do not know where they are, or they talk in a way that makes no sense.",
       "confusion", "danger", ["S3", "S1", "S20"]),
    _s("hallucinations", [_R], "Seeing or hearing things that are not there",
       "They see, hear or feel things other people do not.",
       "seeing or hearing things", "danger", ["S46", "S18"]),
    _s("rigidity", [_R], "Whole body very stiff or rigid", "The whole body is stiff like a board and hard to bend.",
       "a very stiff body", "danger", ["S1", "S19", "S46"]),
    _s("fainting", [_R], "Fainted or nearly fainted", "They passed out, or almost did.",
       "fainting", "danger", ["S19", "S3"]),
    _s("spreading_weakness", [_R], "Floppy or weak, and it is spreading up the body",
       "Weakness that moves up from the legs to the arms, chest or face.",
       "weakness that is spreading up the body", "danger", ["S11", "S3"]),
    _s("stiff_neck_headache", [_R], "Very bad headache with a stiff neck, or light hurts the eyes",
       "It hurts to bend the head down, or bright light hurts.",
       "a bad headache with a stiff neck", "danger", [SPEC_ONLY]),
    _s("dysreflexia_signs", [_R], "Pounding headache, red face or sweating above the injury level",
       "This can happen with a spinal cord injury at the chest or neck.",
       "a pounding headache with a red face", "danger", ["S47", "S2c"]),
    # --- withdrawal (too little medicine) ----------------------------------------------------
    _s("spasticity_increase", [_W], "Muscles stiffer, or more spasms than usual",
       "Tight muscles or jerks are back, or worse than normal.",
       "stiffer muscles", "body", ["S2c", "S3", "S20", "S19", "S46", "S57"]),
    _s("itching", [_W], "Itching, with no rash", "The skin itches but looks normal.",
       "itching", "body", ["S2c", "S3", "S20", "S46", "S57", "S19"]),
    _s("tingling", [_W], "Pins and needles, or tingling", "A prickly or buzzing feeling in the skin.",
       "tingling", "body", ["S2c", "S3", "S20"]),
    _s("sweating", [_W], "Sweating more than usual", "Sweating when it is not hot and you are not working hard.",
       "sweating", "body", [SPEC_ONLY]),
    _s("racing_heart", [_W], "Fast or pounding heartbeat", "The heart beats fast or hard while resting.",
       "a fast heartbeat", "body", ["S46"]),
    _s("agitation", [_W], "Worried, restless or grumpy", "Upset or cranky for no clear reason.",
       "feeling restless", "body", ["S19", "S18"]),
    _s("goosebumps", [_W], "Goosebumps for no reason", "Bumps on the skin when you are not cold.",
       "goosebumps", "body", ["S46"]),
    _s("feels_feverish", [_W], "Feels hot or feverish (no thermometer)",
       "Use this when you cannot take a temperature.",
       "feeling feverish", "body", ["S1", "S20", "S18"]),
    # --- both withdrawal and overdose ---------------------------------------------------------
    _s("lightheaded", [_W, _O], "Dizzy or lightheaded", "The room spins, or you feel you might fall.",
       "dizziness", "body", ["S11", "S3", "S20", "S19", "S2c"]),
    _s("muscle_weakness", [_W, _O], "New muscle weakness or floppiness", "Arms, legs or body feel weak or floppy.",
       "new weakness", "body", ["S3", "S11", "S19"]),
    _s("blurred_vision", [_W, _O], "Blurry or double vision", "Things look fuzzy, or you see two of them.",
       "trouble seeing", "body", [SPEC_ONLY]),
    # --- overdose (too much medicine) --------------------------------------------------------
    _s("drowsy", [_O], "Sleepy, but easy to wake", "Much more sleepy than usual, but wakes up when called.",
       "sleepiness", "body", ["S3", "S11", "S20"]),
    _s("nausea_vomiting", [_O], "Feeling sick to the stomach, or throwing up", "Upset stomach or vomiting.",
       "an upset stomach", "body", [SPEC_ONLY]),
    _s("drooling", [_O], "Much more spit than usual", "Drooling, or a lot more spit in the mouth.",
       "drooling", "body", [SPEC_ONLY]),
    _s("slurred_speech", [_O], "Slurred speech", "Words sound mushy or hard to understand.",
       "slurred speech", "body", [SPEC_ONLY]),
    # --- device ------------------------------------------------------------------------------
    _s("pump_alarm_critical", [_D], "The pump makes a two-tone alarm",
       "Two different tones: the medicine may have stopped.",
       "a two-tone pump alarm", "pump", ["S12", "S13", "S15"]),
    _s("pump_alarm_single", [_D], "The pump beeps one tone, about every hour",
       "One beep that repeats: the pump may be low or need a new battery.",
       "a one-tone pump beep", "pump", ["S12", "S15"]),
    _s("site_problem", [_D], "Pump site or cut is red, swollen, warm, open or leaking",
       "Look at the skin over the pump and at the scar.",
       "a problem at the pump site", "pump", ["S15", "S18"]),
    _s("positional_headache", [_D], "Headache worse sitting up, better lying down",
       "The head hurts more when you sit or stand.",
       "a headache that is worse sitting up", "pump", [SPEC_ONLY]),
    _s("missed_refill", [_D], "Missed the refill, or cannot make it", "You could not go, or you cannot go on time.",
       "a missed refill", "pump", ["S3", "S19"]),
    # --- common side effects -----------------------------------------------------------------
    _s("constipation", [_C], "Hard to poop (constipation)", "Fewer or harder bowel movements than usual.",
       "constipation", "common", [SPEC_ONLY]),
    _s("dry_mouth", [_C], "Dry mouth", "The mouth feels dry or sticky.", "a dry mouth", "common", [SPEC_ONLY]),
    _s("urination_trouble", [_C], "Trouble peeing", "Hard to start, or you cannot hold it.",
       "trouble peeing", "common", [SPEC_ONLY]),
    _s("headache", [_C], "Headache", "A mild or usual headache.", "a headache", "common", [SPEC_ONLY]),
    _s("trouble_sleeping", [_C], "Trouble sleeping", "Hard to fall asleep or stay asleep.",
       "trouble sleeping", "common", [SPEC_ONLY]),
    _s("ankle_swelling", [_C], "Swollen ankles", "Puffy feet or ankles.", "swollen ankles", "common", [SPEC_ONLY]),
)  # fmt: skip

BY_CODE: dict[str, Symptom] = {s.code: s for s in SYMPTOMS}
CODES: tuple[str, ...] = tuple(BY_CODE)
ORDER: dict[str, int] = {code: i for i, code in enumerate(CODES)}


def _group(name: str) -> frozenset[str]:
    return frozenset(s.code for s in SYMPTOMS if name in s.groups)


RED_FLAGS = _group(RED_FLAG)
WITHDRAWAL = _group(WITHDRAWAL_GROUP)
OVERDOSE = _group(OVERDOSE_GROUP)
DEVICE = _group(DEVICE_GROUP)
COMMON = _group(COMMON_GROUP)


def is_red_flag(code: str) -> bool:
    return code in RED_FLAGS


def in_catalog_order(codes: Iterable[str]) -> tuple[str, ...]:
    """The given known codes in form order, each once (for reasons and stored lists)."""
    return tuple(sorted(set(codes), key=ORDER.__getitem__))


def catalog_as_list() -> list[dict[str, Any]]:
    """The catalog for `GET /api/v1/symptoms/`: one dict per code, in form order."""
    return [s.as_dict() for s in SYMPTOMS]


def headings_with_symptoms() -> list[tuple[str, str, tuple[Symptom, ...]]]:
    """(key, heading, symptoms) in form order, danger signs first."""
    return [(key, title, tuple(s for s in SYMPTOMS if s.heading == key)) for key, title in HEADINGS]
