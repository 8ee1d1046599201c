"""WFDB annotation files (MIT format), parsed word by word as ``wfdb.rdann`` does, and checked.

The file is a sequence of little-endian 16-bit words ``code << 10 | value``. A label
code (1-49) starts an annotation ``value`` samples after the previous one; ``SKIP`` (59)
adds a signed 32-bit interval held in the next two words; ``NUM`` (60), ``SUB`` (61) and
``CHN`` (62) set the annotation's number, subtype and channel; ``AUX`` (63) is followed by
``value`` bytes of text, padded to a whole word. The file ends with a zero word.

Unlike ``wfdb.rdann``, :func:`parse_annotations` knows where every field ends, so a file
cut anywhere (inside a SKIP or an AUX text, or just after a whole annotation) is an
error rather than fewer annotations; and a code outside wfdb's label table gets the
placeholder symbol ``"[code]"`` (what the WFDB C library's ``annstr`` prints) instead of
``nan``.
"""
import re

import numpy as np

SKIP, NUM, SUB, CHN, AUX = 59, 60, 61, 62, 63
NOTE = 22
_FIELD_NAMES = {NUM: "num", SUB: "subtype", CHN: "chan", AUX: "aux"}
_FS = re.compile(r"## time resolution: (\d+\.?\d*)")
_CUSTOM = re.compile(r"(\d+) (\S+) (.+)")


class AnnotationFileError(ValueError):
    """The bytes are not a complete WFDB annotation file; the message (``is truncated: ...``) says where."""


def _symbols():
    from wfdb.io.annotation import ann_label_table

    return dict(zip(ann_label_table["label_store"].tolist(), ann_label_table["symbol"].tolist()))


_SYMBOLS = None


def parse_annotations(data):
    """Parse the bytes of a WFDB annotation file.

    Returns
    -------
    dict
        ``sample`` (int64), ``label_store`` (int64 codes), ``symbol`` (str, ``"[code]"``
        for a code with no symbol), ``subtype``, ``chan``, ``num`` (int64) and
        ``aux_note`` (str, NUL padding kept as wfdb keeps it), one entry per annotation;
        ``fs``: the time resolution the file declares, or ``None``. Definition notes at
        sample 0 and code-0 entries are left out, as wfdb leaves them out.

    Raises
    ------
    AnnotationFileError
        The file has an odd number of bytes, ends inside a field, or does not end with
        the end-of-file word.
    """
    global _SYMBOLS
    if len(data) % 2:
        raise AnnotationFileError(f"is truncated: it has an odd number of bytes ({len(data)})")
    words = np.frombuffer(data, dtype="<u2").tolist()
    n = len(words)
    sample, label, subtype, chan, num, aux = [], [], [], [], [], []
    total, i = 0, 0
    while True:
        if i >= n:
            raise AnnotationFileError(f"is truncated: it ends after {len(sample)} annotations without "
                                      f"WFDB's end-of-file word ({len(data)} bytes)")
        if words[i] == 0 and i == n - 1:
            break
        while words[i] >> 10 == SKIP:
            if i + 3 > n:
                raise AnnotationFileError(f"is truncated: it ends inside a SKIP field at byte {2 * i}")
            interval = (words[i + 1] << 16) | words[i + 2]
            total += interval - (1 << 32) if interval >= 1 << 31 else interval
            i += 3
            if i >= n:
                raise AnnotationFileError(f"is truncated: it ends after a SKIP field at byte {2 * i}")
        code, value = words[i] >> 10, words[i] & 0x3FF
        total += value
        i += 1
        sample.append(total)
        label.append(code)
        fields = {}
        while i < n and words[i] >> 10 > SKIP:
            extra, value = words[i] >> 10, words[i] & 0xFF
            key = _FIELD_NAMES[extra]
            if key in fields:
                raise AnnotationFileError(f"is corrupted: annotation {len(sample) - 1} (sample {total}) has "
                                          f"two {key.upper()} fields")
            if extra == AUX:
                n_words = (value + 1) // 2
                if i + 1 + n_words > n:
                    raise AnnotationFileError(f"is truncated: it ends inside an AUX text at byte {2 * i}")
                fields[key] = data[2 * (i + 1):2 * (i + 1) + value].decode("latin-1")
                i += 1 + n_words
                continue
            fields[key] = value if extra == CHN else (value - 256 if value > 127 else value)
            i += 1
        subtype.append(fields.get("subtype", 0))
        chan.append(fields.get("chan", chan[-1] if chan else 0))
        num.append(fields.get("num", num[-1] if num else 0))
        aux.append(fields.get("aux", ""))
    sample = np.array(sample, dtype=np.int64)
    label = np.array(label, dtype=np.int64)
    definitions = (sample == 0) & (label == NOTE)
    fs, custom = _definitions([aux[k] for k in np.flatnonzero(definitions)])
    keep = np.flatnonzero(~definitions & (label != 0))
    if _SYMBOLS is None:
        _SYMBOLS = _symbols()
    table = dict(_SYMBOLS, **custom)
    return {"sample": sample[keep], "label_store": label[keep],
            "symbol": np.array([table.get(int(c), f"[{c}]") for c in label[keep]], dtype=str),
            "subtype": np.array(subtype, dtype=np.int64)[keep], "chan": np.array(chan, dtype=np.int64)[keep],
            "num": np.array(num, dtype=np.int64)[keep], "aux_note": np.array([aux[k] for k in keep], dtype=str),
            "fs": fs}


def _definitions(notes):
    """The time resolution and the custom label symbols of the definition notes at sample 0."""
    fs, custom, k = None, {}, 0
    while k < len(notes):
        match = _FS.search(notes[k])
        if fs is None and match:
            fs = float(match.group(1))
            fs = int(fs) if round(fs, 8) == float(int(fs)) else fs
        elif notes[k] == "## annotation type definitions":
            k += 1
            while k < len(notes) and notes[k] != "## end of definitions":
                label = _CUSTOM.fullmatch(notes[k])
                if label:
                    custom[int(label.group(1))] = label.group(2)
                k += 1
        k += 1
    return fs, custom
