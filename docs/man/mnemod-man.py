#!/usr/bin/python3
"""Writes the mnemod(1) man page: the prose of mnemod.1.in with its OPTIONS section made from
`mnemod -h`, so that the flags are described in one place (src/server/options.cc's usage text)
and the page cannot fall behind them.

    docs/man/mnemod-man.py build/mnemod > mnemod.1

The page's date is $SOURCE_DATE_EPOCH's (dpkg-buildpackage sets it from debian/changelog), else
today's. A line of the help this script does not recognise fails it, rather than turning into a
garbled page.
"""

import datetime
import os
import re
import subprocess
import sys
from pathlib import Path

TEMPLATE = Path(__file__).resolve().parent / "mnemod.1.in"

# "-p, --port=<num>   text", "-D <char>   text", "-vv   text": the flags, then the text after at
# least one space (two or more when the flags are shorter than the help's first column).
OPTION = re.compile(r"^(-\w+(?:, --[\w-]+(?:=<[^>]+>)?)?(?: <[^>]+>)?)\s+(\S.*)$")
# "   - name:   text": one of -o's extended options.
EXTENDED = re.compile(r"^   - (\w+):\s+(\S.*)$")
# "   - text": a note under -o's list, not an option.
NOTE = re.compile(r"^   - (\S.*)$")
CONTINUATION = re.compile(r"^ {5,}(\S.*)$")


def escape(text):
    """Roff text for a line of the help: backslashes and hyphens escaped, `code` in bold."""
    text = text.replace("\\", "\\e").replace("-", "\\-")
    text = re.sub(r"`([^`]+)`", r"\\fB\1\\fR", text)
    return "\\&" + text if text[:1] in (".", "'") else text


def flags_roff(flags):
    """`-p, --port=<num>` as roff: the flags in bold, the argument in italics."""
    out = re.sub(r"<([^>]+)>", lambda m: "\\fI%s\\fR" % m.group(1), flags.replace("-", "\\-"))
    return re.sub(r"(\\-(?:\\-)?[\w\\-]*\w)", r"\\fB\1\\fR", out)


def parse_help(help_text):
    """(version line, items): items are ["option", flags, text], ["extended", name, text] and
    ["note", text], their text joined from its continuation lines."""
    lines = help_text.splitlines()
    if not lines or not lines[0].startswith("mnemod "):
        raise ValueError("the help does not start with mnemod's version line: %r" % lines[:1])
    items = []
    for number, line in enumerate(lines[1:], start=2):
        if m := OPTION.match(line):
            items.append(["option", m.group(1), m.group(2)])
        elif m := EXTENDED.match(line):
            items.append(["extended", m.group(1), m.group(2)])
        elif m := NOTE.match(line):
            items.append(["note", m.group(1)])
        elif (m := CONTINUATION.match(line)) and items:
            items[-1][-1] += " " + m.group(1)
        else:
            raise ValueError("line %d of mnemod -h is not an option, an extended option, a note "
                             "or a continuation: %r" % (number, line))
    return lines[0], items


def options_roff(items):
    out = []
    in_extended = False
    for item in items:
        kind = item[0]
        if kind == "option" and in_extended:
            out.append(".RE")
            in_extended = False
        if kind == "option":
            out += [".TP", flags_roff(item[1]), escape(item[2])]
            continue
        if not in_extended:
            out.append(".RS")
            in_extended = True
        if kind == "extended":
            out += [".TP", "\\fB%s\\fR" % item[1], escape(item[2])]
        else:
            out += [".PP", escape(item[1])]
    if in_extended:
        out.append(".RE")
    return "\n".join(out)


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: %s MNEMOD" % sys.argv[0])
    help_text = subprocess.run([sys.argv[1], "-h"], check=True, capture_output=True,
                               text=True).stdout
    version_line, items = parse_help(help_text)
    version = version_line.split()[1]
    epoch = int(os.environ.get("SOURCE_DATE_EPOCH", datetime.datetime.now().timestamp()))
    date = datetime.datetime.fromtimestamp(epoch, datetime.timezone.utc).strftime("%Y-%m-%d")
    page = TEMPLATE.read_text()
    for key, value in (("@VERSION@", version), ("@DATE@", date),
                       ("@OPTIONS@", options_roff(items))):
        if key not in page:
            raise ValueError("%s lacks %s" % (TEMPLATE.name, key))
        page = page.replace(key, value)
    sys.stdout.write(page)


if __name__ == "__main__":
    main()
