# Copyright: flotilla contributors
# Apache License 2.0 (see LICENSE)
"""Control characters in inventory values, refused before any host changes.

Role variables end up in systemd units and drop-ins, daemon.json, apt and yum sources and engine
command lines. A newline there ends the line it was meant to sit in: ``docker_http_proxy:
"http://p:3128\\n[Service]\\nExecStartPre=..."`` would add directives to the engine's unit. The
preflight therefore refuses every C0 control character (and DEL) in every string a role takes,
list elements and mapping keys and values included; a tab is harmless and allowed.

Pure, no I/O except reading argument specs in :func:`spec_text_options`. Python 3.9 syntax.
"""

from __future__ import annotations

ALLOWED = {"\t"}
_NAMES = {"\n": "a newline (\\n)", "\r": "a carriage return (\\r)", "\x00": "a NUL byte"}


def _describe(char: str) -> str:
    return _NAMES.get(char, f"the control character U+{ord(char):04X}")


def bad_character(text: str) -> str:
    """The first control character of ``text`` that is refused, or ""."""
    for char in text:
        if (ord(char) < 0x20 or ord(char) == 0x7F) and char not in ALLOWED:
            return char
    return ""


def _walk(path: str, value, out: list) -> None:
    if isinstance(value, str):
        char = bad_character(value)
        if char:
            out.append(
                f"{path} contains {_describe(char)}: values are written into systemd units, config "
                "files and command lines, where it would end the line; remove it"
            )
    elif isinstance(value, dict):
        for key, item in value.items():
            if isinstance(key, str) and bad_character(key):
                out.append(
                    f"{path} has a key containing {_describe(bad_character(key))} ({key!r}): remove it"
                )
            _walk(f"{path}.{key}", item, out)
    elif isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            _walk(f"{path}[{index}]", item, out)


def control_character_errors(values: dict) -> list:
    """One message per variable path holding a refused control character; [] when clean."""
    out = []
    for name in sorted(values or {}):
        _walk(str(name), values[name], out)
    return out


TEXT_TYPES = ("str", "list", "dict", "raw", "path")


def text_options(specs: dict) -> list:
    """The option names of every entry point of a role's argument specs that can hold text."""
    names = set()
    for entry in (specs or {}).get("argument_specs", {}).values():
        for name, option in (entry.get("options") or {}).items():
            if (option or {}).get("type", "str") in TEXT_TYPES:
                names.add(name)
    return sorted(names)
