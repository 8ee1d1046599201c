"""A LiteRT flatbuffer as a C array, as microcontroller projects include their model.

The header defines the bytes as a 16-byte aligned ``const unsigned char`` array (LiteRT
for Microcontrollers reads the flatbuffer in place and needs that alignment) and its
length, with an include guard::

    #include "cinc2017_int8.h"
    const tflite::Model* model = tflite::GetModel(cinc2017_int8);   // cinc2017_int8_len bytes

``alignas`` is C11 (``<stdalign.h>``) and C++11. Include the header in one source file
(it defines the array).
"""
import os
import re

BYTES_PER_LINE = 12


def c_identifier(name):
    """A C identifier from a file name: other characters become ``_``, no leading digit.

    Examples
    --------
    >>> c_identifier("cinc2017-int8.tflite")
    'cinc2017_int8'
    >>> c_identifier("2017.tflite")
    'model_2017'
    """
    stem = os.path.splitext(os.path.basename(os.fspath(name)))[0]
    ident = re.sub(r"\W", "_", stem, flags=re.ASCII) or "model"
    return f"model_{ident}" if ident[0].isdigit() else ident


def c_array(data, name, source=None):
    """The text of a C header holding ``data`` (bytes) as array ``name`` and ``name_len``.

    Examples
    --------
    >>> print("\\n".join(c_array(b"TFL3", "tiny").splitlines()[10:14]))
    alignas(16) const unsigned char tiny[] = {
        0x54, 0x46, 0x4c, 0x33
    };
    const unsigned int tiny_len = 4;
    """
    guard = f"{name.upper()}_H_"
    rows = (", ".join(f"0x{byte:02x}" for byte in data[i:i + BYTES_PER_LINE])
            for i in range(0, len(data), BYTES_PER_LINE))
    body = ",\n".join(f"    {row}" for row in rows)
    return "\n".join([
        f"/* {name}: {len(data)} bytes of a LiteRT flatbuffer" + (f" ({os.path.basename(source)})" if source else "")
        + ", written by `ecg export --c-header`. */",
        f"#ifndef {guard}", f"#define {guard}", "",
        "#ifdef __cplusplus", 'extern "C" {', "#else", "#include <stdalign.h>", "#endif", "",
        f"alignas(16) const unsigned char {name}[] = {{", body, "};",
        f"const unsigned int {name}_len = {len(data)};", "",
        "#ifdef __cplusplus", "}", "#endif", f"#endif  /* {guard} */", ""])


def write_c_header(tflite_path, header_path, name=None):
    """Write the ``.tflite`` file ``tflite_path`` as a C header; return ``(header path, array name)``."""
    with open(tflite_path, "rb") as file:
        data = file.read()
    name = name or c_identifier(tflite_path)
    tmp = os.fspath(header_path) + ".tmp"
    with open(tmp, "w", encoding="ascii") as file:
        file.write(c_array(data, name, source=tflite_path))
    os.replace(tmp, header_path)
    return os.fspath(header_path), name
