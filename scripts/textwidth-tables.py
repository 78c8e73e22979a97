#!/usr/bin/env python3
# scripts/textwidth-tables.py — print the code point ranges of lib/textwidth.c from the
# Unicode Character Database that ships with Python (unicodedata), so that the tables can be
# brought up to a newer Unicode version by pasting this output over them.
#
#   zero_width: general category Mn or Me (combining marks: Arabic harakat, Hebrew points,
#               Indic vowel signs, variation selectors), the invisible format characters
#               listed below, and conjoining Hangul medial vowels and final consonants.
#   double_width: East Asian Width W or F of assigned code points, whole emoji blocks (so that
#               emoji added after this Unicode version are wide too), and CJK planes 2 and 3.
import sys
import unicodedata as ucd

# Format characters (Cf) that terminals draw as nothing. Not every Cf: the Arabic number
# signs U+0600-0605 and U+06DD, and the soft hyphen, are visible.
INVISIBLE = (
    [0x061C, 0x180E, 0xFEFF, 0xE0001]   # Arabic letter mark, Mongolian VS, BOM, language tag
    + list(range(0x200B, 0x2010))       # ZWSP, ZWNJ, ZWJ, LRM, RLM
    + list(range(0x202A, 0x202F))       # LRE, RLE, PDF, LRO, RLO
    + list(range(0x2060, 0x2065))       # word joiner, invisible operators
    + list(range(0x2066, 0x2070))       # LRI, RLI, FSI, PDI, deprecated format characters
    + list(range(0xE0020, 0xE0080))     # tag characters (emoji subdivision flags)
    + list(range(0x1160, 0x1200))       # Hangul jamo: medial vowels, final consonants
    + list(range(0xD7B0, 0xD800))       # Hangul jamo extended-B
)
WIDE_BLOCKS = [
    (0x1F300, 0x1F64F),  # Miscellaneous Symbols and Pictographs, Emoticons
    (0x1F680, 0x1F6FF),  # Transport and Map Symbols
    (0x1F900, 0x1F9FF),  # Supplemental Symbols and Pictographs
    (0x1FA70, 0x1FAFF),  # Symbols and Pictographs Extended-A
    (0x20000, 0x2FFFD),  # CJK Unified Ideographs Extension B and later
    (0x30000, 0x3FFFD),  # CJK plane 3
]
invisible = set(INVISIBLE)


def zero(cp):
    return cp in invisible or ucd.category(chr(cp)) in ("Mn", "Me")


def wide(cp):
    if zero(cp):
        return False
    c = chr(cp)
    if ucd.category(c) != "Cn" and ucd.east_asian_width(c) in ("W", "F"):
        return True
    return any(lo <= cp <= hi for lo, hi in WIDE_BLOCKS)


def ranges(pred):
    out, start = [], None
    for cp in range(0x110000):
        if pred(cp):
            if start is None:
                start = cp
        elif start is not None:
            out.append((start, cp - 1))
            start = None
    if start is not None:
        out.append((start, 0x10FFFF))
    return out


def emit(name, rs):
    print("/* %s: generated from Unicode %s by scripts/textwidth-tables.py */" %
          (name, ucd.unidata_version))
    line = "   "
    for lo, hi in rs:
        item = " {0x%04X, 0x%04X}," % (lo, hi)
        if len(line) + len(item) > 100:
            print(line)
            line = "   "
        line += item
    print(line)


emit("zero_width", ranges(zero))
emit("double_width", ranges(wide))
sys.exit(0)
