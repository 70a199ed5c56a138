"""Workspace handlers for the AIOS demo: the service imports this file at start (trusted workspaces only)
and again on "AIOS: Reload Python Service Config". Everything here uses the standard library only.

Try from the command palette: "AIOS: Run Command" with commandType SUMMARIZE or WORD_COUNT, and
"AIOS: Run Custom Control Command…" with warm_up or set_summary_length. Each registration carries the hints
the extension shows: a description, one line per parameter and an example parameters object.
"""

import logging
import re
from collections import Counter

from aios_service import ParamsError, command, control_command

log = logging.getLogger(__name__)  # "aios_handlers": target it with UPDATE_LOG_LEVEL target_module

_SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"'])")
_WORD = re.compile(r"[A-Za-z][A-Za-z'-]*")
_STOPWORDS = frozenset("""a an and are as at be but by for from has have he her his i in is it its of on or
our she so that the their them they this to was we were what when which who will with you your not no""".split())


# Set by set_summary_length at run time. A restart forgets it, so that command is marked replay=True: the
# extension sends it again, with its last arguments, to a service it restarted after a crash.
_settings = {"sentences": 3}


def _text(params):
    text = params.get("text")
    if not isinstance(text, str) or not text.strip():
        raise ParamsError("parameters.text must be a non-empty string")
    return text


@command("SUMMARIZE", description="Extractive summary of parameters.text (sentences: how many to keep, default 3).",
         parameters={"text": "string: the text to summarise",
                     "sentences": "integer >= 1 (optional): sentences to keep, default 3 or set_summary_length's"},
         example={"text": "The keeper lit the lamp. Ships saw the light. Cats slept.", "sentences": 2})
def summarize(params, ctx):
    text = _text(params)
    keep = params.get("sentences", _settings["sentences"])
    if isinstance(keep, bool) or not isinstance(keep, int) or keep < 1:
        raise ParamsError("parameters.sentences must be a positive integer")
    sentences = [s.strip() for s in _SENTENCE.split(text.strip()) if s.strip()]
    freq = Counter(w.lower() for w in _WORD.findall(text) if w.lower() not in _STOPWORDS)
    top = max(freq.values()) if freq else 1
    scored = []
    for index, sentence in enumerate(sentences):
        ctx.check_cancelled()  # long documents: stop promptly when the user cancels
        words = [w.lower() for w in _WORD.findall(sentence)]
        content = [w for w in words if w not in _STOPWORDS]
        # Normalised frequency of the sentence's content words; favours sentences about the main topic.
        score = sum(freq[w] / top for w in content) / (len(content) ** 0.5) if content else 0.0
        scored.append((score, index, sentence))
    chosen = sorted(sorted(scored, reverse=True)[:keep], key=lambda item: item[1])
    log.debug("SUMMARIZE kept %d of %d sentences", len(chosen), len(sentences))
    return {
        "summary": " ".join(s for _, _, s in chosen),
        "sentences": len(sentences),
        "kept": len(chosen),
        "keywords": [w for w, _ in freq.most_common(5)],
    }


@command("WORD_COUNT", description="Count words, sentences, lines and characters of parameters.text, with the top words.",
         parameters={"text": "string: the text to count"},
         example={"text": "The keeper lit the lamp. The ships saw it."})
def word_count(params):
    text = _text(params)
    words = [w.lower() for w in _WORD.findall(text)]
    return {
        "words": len(words),
        "uniqueWords": len(set(words)),
        "sentences": len([s for s in _SENTENCE.split(text.strip()) if s.strip()]),
        "lines": text.count("\n") + 1,
        "characters": len(text),
        "top": Counter(w for w in words if w not in _STOPWORDS).most_common(5),
    }


@control_command("set_summary_length", description="Set how many sentences SUMMARIZE keeps when a call does not say.",
                 parameters={"sentences": "integer 1-50: the new default for SUMMARIZE's sentences"},
                 example={"sentences": 2}, replay=True)
def set_summary_length(arguments):
    keep = arguments.get("sentences")
    if isinstance(keep, bool) or not isinstance(keep, int) or not 1 <= keep <= 50:
        raise ParamsError("arguments.sentences must be an integer from 1 to 50")
    previous, _settings["sentences"] = _settings["sentences"], keep
    log.info("SUMMARIZE keeps %d sentences by default (was %d)", keep, previous)
    return {"sentences": keep, "previous": previous}


@control_command("warm_up", description="Load the inference model now, so the first AI_INFERENCE does not pay for training.",
                 example={})  # no arguments; not replayed: a restarted service trains on first use anyway
def warm_up(arguments, ctx):
    model = ctx.service.get_model()
    log.info("Model warmed up: %s", model.describe())
    return {"model": model.describe(), "modelCache": ctx.service.model_cache.stats()}
