#!/usr/bin/python3
"""Print, as JSON, every protobuf message and enum type defined by the installed pycriu (crit's own
generated *_pb2 modules), with the facts our schema must reproduce: field names, numbers, labels,
types, referenced types, explicit defaults and the (criu) field options.

Run with PYTHONPATH pointing at the dist-packages directory that holds pycriu.
"""
import importlib
import json
import os
import pkgutil
import sys

import pycriu
import pycriu.images
from google.protobuf import descriptor as _descriptor

FD = _descriptor.FieldDescriptor

LABELS = {
    FD.LABEL_OPTIONAL: "optional",
    FD.LABEL_REQUIRED: "required",
    FD.LABEL_REPEATED: "repeated",
}

TYPES = {
    FD.TYPE_DOUBLE: "double",
    FD.TYPE_FLOAT: "float",
    FD.TYPE_INT64: "int64",
    FD.TYPE_UINT64: "uint64",
    FD.TYPE_INT32: "int32",
    FD.TYPE_FIXED64: "fixed64",
    FD.TYPE_FIXED32: "fixed32",
    FD.TYPE_BOOL: "bool",
    FD.TYPE_STRING: "string",
    FD.TYPE_GROUP: "group",
    FD.TYPE_MESSAGE: "message",
    FD.TYPE_BYTES: "bytes",
    FD.TYPE_UINT32: "uint32",
    FD.TYPE_ENUM: "enum",
    FD.TYPE_SFIXED32: "sfixed32",
    FD.TYPE_SFIXED64: "sfixed64",
    FD.TYPE_SINT32: "sint32",
    FD.TYPE_SINT64: "sint64",
}


def pb2_modules():
    """Every *_pb2 module of the pycriu package and its subpackages (images, rpc)."""
    mods = {}
    for pkg in (pycriu, pycriu.images):
        for info in pkgutil.iter_modules(pkg.__path__):
            if info.name.endswith("_pb2"):
                name = pkg.__name__ + "." + info.name
                mods[name] = importlib.import_module(name)
    return mods


def criu_options(field):
    """The (criu) extension of a field's options as a plain dict (only the members that are set)."""
    opts = {}
    packed = None
    for fd, value in field.GetOptions().ListFields():
        if fd.is_extension and fd.name == "criu":
            for sub, subvalue in value.ListFields():
                opts[sub.name] = subvalue
        elif fd.name == "packed":
            packed = bool(value)
        else:
            raise SystemExit("unexpected field option %s on %s" % (fd.full_name, field.full_name))
    return opts, packed


def default_of(field):
    if not field.has_default_value:
        return None
    value = field.default_value
    if field.type == FD.TYPE_ENUM:
        return field.enum_type.values_by_number[value].name
    if field.type == FD.TYPE_BYTES:
        return value.decode("latin-1")
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > 2**53:
        return str(value)  # not exactly representable in a JS number
    return value


def describe_enum(enum, file_name, enums):
    enums[enum.full_name] = {
        "file": file_name,
        "values": [{"name": v.name, "number": v.number} for v in enum.values],
    }


def describe_message(msg, file_name, messages, enums):
    fields = []
    for f in msg.fields:
        crit, packed = criu_options(f)
        entry = {
            "name": f.name,
            "number": f.number,
            "label": LABELS[f.label],
            "type": TYPES[f.type],
            "typeName": (
                f.message_type.full_name if f.type in (FD.TYPE_MESSAGE, FD.TYPE_GROUP)
                else f.enum_type.full_name if f.type == FD.TYPE_ENUM
                else None
            ),
            "criu": crit,
        }
        if f.has_default_value:
            entry["default"] = default_of(f)
        if packed is not None:
            entry["packed"] = packed
        if f.containing_oneof is not None:
            entry["oneof"] = f.containing_oneof.name
        fields.append(entry)
    messages[msg.full_name] = {
        "file": file_name,
        "fields": fields,
        "nestedTypes": [n.full_name for n in msg.nested_types],
        "nestedEnums": [e.full_name for e in msg.enum_types],
        "extensions": [e.full_name for e in msg.extensions],
    }
    for nested in msg.nested_types:
        describe_message(nested, file_name, messages, enums)
    for enum in msg.enum_types:
        describe_enum(enum, file_name, enums)


def main():
    files = {}
    messages = {}
    enums = {}
    extensions = {}
    for modname, mod in sorted(pb2_modules().items()):
        fdesc = mod.DESCRIPTOR
        if fdesc.name in files:
            continue
        files[fdesc.name] = {
            "module": modname,
            "package": fdesc.package,
            "syntax": getattr(fdesc, "syntax", None),
            "dependencies": sorted(d.name for d in fdesc.dependencies),
        }
        for msg in fdesc.message_types_by_name.values():
            describe_message(msg, fdesc.name, messages, enums)
        for enum in fdesc.enum_types_by_name.values():
            describe_enum(enum, fdesc.name, enums)
        for ext in fdesc.extensions_by_name.values():
            extensions[ext.full_name] = {
                "file": fdesc.name,
                "number": ext.number,
                "extendee": ext.containing_type.full_name,
                "typeName": ext.message_type.full_name if ext.message_type else None,
            }
    json.dump(
        {
            "pycriuVersion": getattr(pycriu, "__version__", None),
            "files": files,
            "messages": messages,
            "enums": enums,
            "extensions": extensions,
        },
        sys.stdout,
        indent=1,
        sort_keys=True,
    )
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
