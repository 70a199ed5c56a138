"""The JSON encoders the service writes with (compact, UTF-8 kept, NaN refused).

`dumps` checks for cycles, so a handler's self-referencing result is a clear ValueError. `dumps_own` is for
what the service builds itself and for decoded request parameters, which cannot be cyclic: json's C encoder
made once, instead of one per call with its cycle bookkeeping (JSONEncoder.encode builds a new one each
time), about 1 µs less per value.
"""

import json
from json import encoder as _encoder

dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode


def _refuse(value):
    raise TypeError("Object of type %s is not JSON serializable" % type(value).__name__)


_make_encoder = getattr(_encoder, "c_make_encoder", None)
if _make_encoder is not None:
    _encode_own = _make_encoder(None, _refuse, _encoder.encode_basestring, None, ":", ",", False, False, False)

    def dumps_own(value):
        return "".join(_encode_own(value, 0))
else:  # no C accelerator (another Python implementation)
    dumps_own = dumps
