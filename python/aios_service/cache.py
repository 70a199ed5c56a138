"""A small thread-safe LRU cache that counts hits and misses (shown in aios/health)."""

import threading


class LruCache(object):
    def __init__(self, max_entries):
        self._lock = threading.Lock()
        self._data = {}  # dicts keep insertion order: the first key is the least recently used
        self.max_entries = max_entries
        self.hits = 0
        self.misses = 0

    def get(self, key, default=None):
        with self._lock:
            try:
                value = self._data.pop(key)
            except KeyError:
                self.misses += 1
                return default
            self._data[key] = value
            self.hits += 1
            return value

    def put(self, key, value):
        with self._lock:
            self._data.pop(key, None)
            if self.max_entries <= 0:
                return
            self._data[key] = value
            self._trim()

    def _trim(self):
        while len(self._data) > self.max_entries:
            del self._data[next(iter(self._data))]

    def resize(self, max_entries):
        with self._lock:
            self.max_entries = max_entries
            self._trim()

    def clear(self, reset_stats=False):
        """Remove every entry; returns how many there were."""
        with self._lock:
            count = len(self._data)
            self._data.clear()
            if reset_stats:
                self.hits = self.misses = 0
            return count

    def __contains__(self, key):
        with self._lock:
            return key in self._data

    def __len__(self):
        return len(self._data)

    def stats(self):
        entries, hits, misses, max_entries = self.counts()
        return {"entries": entries, "hits": hits, "misses": misses, "maxEntries": max_entries}

    def counts(self):
        """(entries, hits, misses, maxEntries), read together."""
        with self._lock:
            return len(self._data), self.hits, self.misses, self.max_entries
