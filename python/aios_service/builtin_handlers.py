"""Built-in command types (ECHO, SLEEP, AI_INFERENCE) and control commands (reduce_complexity,
adjust_throttling). They use the same decorators as a workspace module, so they double as examples."""

import json

from .errors import Cancelled, ParamsError
from .registry import command, control_command

MAX_SLEEP_S = 3600


def _number(params, key, default=None, lo=None, hi=None, integer=False, where="parameters"):
    value = params.get(key, default)
    kind = "an integer" if integer else "a number"
    ok = not isinstance(value, bool) and isinstance(value, (int,) if integer else (int, float))
    if not ok or (lo is not None and value < lo) or (hi is not None and value > hi):
        bounds = ""
        if lo is not None and hi is not None:
            bounds = " from %s to %s" % (lo, hi)
        elif lo is not None:
            bounds = " >= %s" % lo
        raise ParamsError("%s.%s must be %s%s (got %s)" % (where, key, kind, bounds, json.dumps(value)))
    return value


@command("ECHO", description="Return the parameters unchanged (connectivity and round-trip checks).",
         parameters={"message": "any JSON value: returned as is (ECHO accepts and returns any parameters)"},
         example={"message": "hello"}, inline=True)  # O(1), never blocks: answered by the reader thread
def echo(params):
    return params


@command("SLEEP", description="Wait parameters.seconds (max 3600), returning early if cancelled.",
         parameters={"seconds": "number 0-3600: how long to wait; cancelling ends it early"},
         example={"seconds": 1})
def sleep(params, ctx):
    seconds = _number(params, "seconds", None, 0, MAX_SLEEP_S)
    if ctx.wait(seconds):
        raise Cancelled("SLEEP cancelled by the client")
    return {"sleptS": seconds}


@command("AI_INFERENCE", description="Continue parameters.prompt with the word n-gram model "
                                     "(maxTokens, seed); results are cached per parameters.",
         parameters={"prompt": "string (optional, up to 100000 characters): the text to continue",
                     "maxTokens": "integer (optional) from 1 to inference.maxTokensLimit (400 by default): words "
                                  "to generate, default inference.maxTokens (40), scaled by reduce_complexity",
                     "seed": "integer (optional, default 0): the same seed gives the same text (and a cache hit)"},
         example={"prompt": "The lighthouse keeper", "maxTokens": 20, "seed": 1})
def ai_inference(params, ctx):
    svc = ctx.service
    prompt = params.get("prompt", "")
    if not isinstance(prompt, str) or len(prompt) > 100000:
        raise ParamsError("parameters.prompt must be a string of at most 100000 characters")
    inference = svc.config["inference"]
    requested = _number(params, "maxTokens", inference["maxTokens"], 1, inference["maxTokensLimit"], True)
    seed = _number(params, "seed", 0, integer=True)
    max_tokens = svc.effective_max_tokens(requested)
    key = json.dumps(["AI_INFERENCE", prompt, max_tokens, seed, inference["order"], inference["corpus"]])
    hit = svc.result_cache.get(key)
    if hit is not None:
        return dict(hit, cached=True)
    model = svc.get_model()
    from .ngram import detokenize, tokenize
    prompt_tokens = tokenize(prompt)
    tokens = model.generate(prompt, max_tokens, seed, should_stop=ctx.cancel_event.is_set)
    ctx.check_cancelled()
    result = {"text": detokenize(tokens, not prompt_tokens or prompt_tokens[-1] in ".!?"), "tokens": len(tokens),
              "maxTokens": max_tokens, "requestedMaxTokens": requested, "complexityFactor": svc.complexity_factor,
              "seed": seed, "model": model.describe(), "cached": False}
    svc.result_cache.put(key, result)
    return result


@control_command("reduce_complexity",
                 description="Scale AI_INFERENCE max tokens by factor (0 < factor <= 1; 1 restores full size).",
                 parameters={"factor": "number > 0 and <= 1: multiplies AI_INFERENCE maxTokens; 1 restores full "
                                       "size"},
                 example={"factor": 0.5},
                 replay=True)  # service state: a restarted service should run at the same complexity
def reduce_complexity(arguments, ctx):
    factor = _number(arguments, "factor", None, 0, 1, where="arguments")
    if factor <= 0:
        raise ParamsError("arguments.factor must be greater than 0 (got %s)" % factor)
    ctx.service.set_complexity(factor)
    return {"complexityFactor": float(factor), "effectiveMaxTokens": ctx.service.effective_max_tokens()}


@control_command("adjust_throttling", description="Ask the extension to change admission control "
                                                  "(new_max_concurrency, new_base_delay, new_max_delay in ms).",
                 parameters={"new_max_concurrency": "integer 1-1024 (optional): the extension's aios.maxConcurrency",
                             "new_base_delay": "number 0-600000 (optional): aios.baseDelayMs, in milliseconds",
                             "new_max_delay": "number 0-600000 (optional, >= new_base_delay): aios.maxDelayMs, "
                                              "in milliseconds",
                             "reason": "string (optional): why; sent with the request and kept in health.throttling"},
                 example={"new_max_concurrency": 2, "new_base_delay": 200, "new_max_delay": 4000,
                          "reason": "model server overloaded"},
                 replay=False)  # it changes the extension's settings, not the service: nothing to re-apply
def adjust_throttling(arguments, ctx):
    request = {}
    if "new_max_concurrency" in arguments:
        request["maxConcurrency"] = _number(arguments, "new_max_concurrency", None, 1, 1024, True, "arguments")
    if "new_base_delay" in arguments:
        request["baseDelayMs"] = _number(arguments, "new_base_delay", None, 0, 600000, where="arguments")
    if "new_max_delay" in arguments:
        request["maxDelayMs"] = _number(arguments, "new_max_delay", None, 0, 600000, where="arguments")
    if not request:
        raise ParamsError("adjust_throttling needs at least one of arguments.new_max_concurrency, "
                          "new_base_delay, new_max_delay")
    if "baseDelayMs" in request and "maxDelayMs" in request and request["maxDelayMs"] < request["baseDelayMs"]:
        raise ParamsError("arguments.new_max_delay (%s) must be >= new_base_delay (%s)"
                          % (request["maxDelayMs"], request["baseDelayMs"]))
    request["reason"] = str(arguments.get("reason") or "adjust_throttling")
    if isinstance(ctx.command_id, str):
        request["commandId"] = ctx.command_id
    ctx.service.request_throttling(request)
    return request
