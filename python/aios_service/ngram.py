"""A word n-gram language model: small, real and deterministic for a given seed.

Training counts, for every context of 0..order previous words, which word follows and how often. Generation
takes the longest context seen in training (backing off to shorter ones, down to word frequencies) and samples
the next word in proportion to its count. It is a toy next to a neural model but exercises the same service
paths: a costly load kept in the model cache, CPU-bound generation, deterministic output per seed.
"""

import bisect
import os
import random
import re

_TOKEN = re.compile(r"[A-Za-z0-9]+(?:'[A-Za-z]+)?|[.,!?;:]")
_SENTENCE_END = frozenset(".!?")
DEFAULT_CORPUS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "corpus.txt")


def tokenize(text):
    return [t.lower() for t in _TOKEN.findall(text)]


def detokenize(tokens, sentence_start=True):
    out = []
    capitalize = sentence_start
    for tok in tokens:
        word = tok.capitalize() if capitalize and tok[0].isalpha() else tok
        if tok == "i":
            word = "I"
        if out and tok not in ",.!?;:":
            out.append(" ")
        out.append(word)
        capitalize = tok in _SENTENCE_END
    return "".join(out)


class NgramModel(object):
    def __init__(self, order, tables, training_tokens, source):
        self.order = order
        self._tables = tables  # tables[k][context of k words] = (words, cumulative counts)
        self.training_tokens = training_tokens
        self.vocabulary_size = len(tables[0][()][0]) if tables[0] else 0
        self.source = source

    @classmethod
    def train(cls, text, order, source="<text>"):
        tokens = tokenize(text)
        if not tokens:
            raise ValueError("the training text %s has no words" % source)
        counts = [dict() for _ in range(order + 1)]
        for i, tok in enumerate(tokens):
            for k in range(0, min(order, i) + 1):
                ctx = tuple(tokens[i - k:i])
                followers = counts[k].setdefault(ctx, {})
                followers[tok] = followers.get(tok, 0) + 1
        tables = []
        for table in counts:
            frozen = {}
            for ctx, followers in table.items():
                words = sorted(followers)
                cum, total = [], 0
                for w in words:
                    total += followers[w]
                    cum.append(total)
                frozen[ctx] = (words, cum)
            tables.append(frozen)
        return cls(order, tables, len(tokens), source)

    @classmethod
    def from_file(cls, path, order):
        with open(path, "r", encoding="utf-8") as f:
            return cls.train(f.read(), order, source=path)

    def _next(self, history, rng):
        for k in range(min(self.order, len(history)), -1, -1):
            entry = self._tables[k].get(tuple(history[len(history) - k:]))
            if entry is not None:
                words, cum = entry
                return words[bisect.bisect_right(cum, rng.random() * cum[-1])]
        raise AssertionError("unigram table is never empty")

    def generate(self, prompt, max_tokens, seed=0, should_stop=None):
        """Continue `prompt` by up to `max_tokens` words; `should_stop()` is polled to honour cancellation."""
        rng = random.Random(seed)
        history = tokenize(prompt)[-self.order:]
        out = []
        for i in range(max_tokens):
            if should_stop is not None and i % 16 == 0 and should_stop():
                break
            tok = self._next(history, rng)
            out.append(tok)
            history.append(tok)
            if len(history) > self.order:
                del history[0]
        return out

    def describe(self):
        return {"name": "word-ngram", "order": self.order, "vocabularySize": self.vocabulary_size,
                "trainingTokens": self.training_tokens, "corpus": os.path.basename(self.source)}
