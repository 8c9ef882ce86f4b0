# Strict JSON text -> value on MicroPython and CPython; ValueError for anything that is not
# exactly one RFC 8259 JSON value.
#
# MicroPython's json.loads is lenient: it takes missing commas ([2 "1"]), keys without values
# ({"a"}), non-string keys, leading zeros, bad escapes and raw control characters. On
# MicroPython the text is first checked by the small scanner below; CPython's parser is strict
# already except for NaN and Infinity, which are refused through parse_constant.

import json
import sys

_ON_MICROPYTHON = sys.implementation.name == "micropython"
_ESCAPES = '"\\/bfnrt'
_HEX = "0123456789abcdefABCDEF"
_WHITESPACE = " \t\n\r"

# Scanner states: what may come next.
_VALUE = 0  # a value
_VALUE_OR_CLOSE = 1  # a value or "]" (just after "[")
_KEY = 2  # a key (after "," in an object)
_KEY_OR_CLOSE = 3  # a key or "}" (just after "{")
_AFTER_VALUE = 4  # ",", "]", "}" or the end


def _string_end(text, i):
    """Index after the string starting with the quote at i."""
    n = len(text)
    i += 1
    while i < n:
        c = text[i]
        if c == '"':
            return i + 1
        if c == "\\":
            i += 1
            if i >= n:
                break
            if text[i] == "u":
                for k in range(i + 1, i + 5):
                    if k >= n or text[k] not in _HEX:
                        raise ValueError("bad \\u escape")
                i += 4
            elif text[i] not in _ESCAPES:
                raise ValueError("bad escape")
        elif c < " ":
            raise ValueError("control character in string")
        i += 1
    raise ValueError("unterminated string")


def _digits_end(text, i):
    start = i
    while i < len(text) and "0" <= text[i] <= "9":
        i += 1
    if i == start:
        raise ValueError("digit expected")
    return i


def _number_end(text, i):
    if text[i] == "-":
        i += 1
    if i < len(text) and text[i] == "0":
        i += 1
    else:
        i = _digits_end(text, i)
    if i < len(text) and text[i] == ".":
        i = _digits_end(text, i + 1)
    if i < len(text) and text[i] in "eE":
        i += 1
        if i < len(text) and text[i] in "+-":
            i += 1
        i = _digits_end(text, i)
    return i


def check_syntax(text):
    """Raise ValueError unless `text` is exactly one JSON value."""
    n = len(text)
    stack = []
    state = _VALUE
    i = 0
    while True:
        while i < n and text[i] in _WHITESPACE:
            i += 1
        if i >= n:
            break
        c = text[i]
        if state <= _VALUE_OR_CLOSE:
            if c == "]" and state == _VALUE_OR_CLOSE:
                stack.pop()
                i += 1
                state = _AFTER_VALUE
            elif c == "[" or c == "{":
                stack.append(c)
                i += 1
                state = _VALUE_OR_CLOSE if c == "[" else _KEY_OR_CLOSE
            elif c == '"':
                i = _string_end(text, i)
                state = _AFTER_VALUE
            elif c == "-" or "0" <= c <= "9":
                i = _number_end(text, i)
                state = _AFTER_VALUE
            else:
                for word in ("true", "false", "null"):
                    if text[i : i + len(word)] == word:
                        i += len(word)
                        state = _AFTER_VALUE
                        break
                else:
                    raise ValueError("value expected at " + str(i))
        elif state <= _KEY_OR_CLOSE:
            if c == "}" and state == _KEY_OR_CLOSE:
                stack.pop()
                i += 1
                state = _AFTER_VALUE
                continue
            if c != '"':
                raise ValueError("string key expected at " + str(i))
            i = _string_end(text, i)
            while i < n and text[i] in _WHITESPACE:
                i += 1
            if i >= n or text[i] != ":":
                raise ValueError("':' expected at " + str(i))
            i += 1
            state = _VALUE
        else:
            if not stack:
                raise ValueError("extra data at " + str(i))
            if c == ",":
                state = _VALUE if stack[-1] == "[" else _KEY
            elif (c == "]" and stack[-1] == "[") or (c == "}" and stack[-1] == "{"):
                stack.pop()
            else:
                raise ValueError("',' or closing bracket expected at " + str(i))
            i += 1
    if stack or state != _AFTER_VALUE:
        raise ValueError("incomplete JSON")


def _reject_constant(name):
    raise ValueError("not JSON: " + name)


def loads(data):
    """The value of JSON text (str, or bytes in UTF-8); ValueError if it is not strict JSON."""
    if isinstance(data, (bytes, bytearray, memoryview)):
        try:
            data = str(data, "utf-8")
        except Exception:
            raise ValueError("not valid UTF-8")
    if not isinstance(data, str):
        raise ValueError("JSON text must be str or bytes")
    try:
        if _ON_MICROPYTHON:
            check_syntax(data)
            return json.loads(data)
        return json.loads(data, parse_constant=_reject_constant)
    except ValueError:
        raise
    except Exception:  # e.g. RecursionError on very deep nesting
        raise ValueError("JSON nested too deeply")
