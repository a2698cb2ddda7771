#!/usr/bin/env python3
"""scripts/e2e-verdict.py XML MODULE [TAG]

One e2e module's verdict from the JUnit XML its pytest run wrote
(scripts/e2e-modules.sh passes --junitxml): prints "PASSED FAILED" (failures
and errors together, as pytest's own summary adds them), then one line per
failed test, "FAILED <node id> - <message>" or "ERROR ...", node ids as pytest
prints them. TAG (e.g. "(asan)") goes after FAILED/ERROR. Exits 3 when the XML
is missing or unreadable (pytest did not get to write it).
"""
import sys
import xml.etree.ElementTree as ET


def node_id(module, case):
    """pytest's node id: classname is the module's dotted path plus any class."""
    dotted = module[:-len(".py")].replace("/", ".")
    cls = case.get("classname", "")
    name = case.get("name", "")
    if not cls:  # a collection error: name is the module
        return module
    rest = cls[len(dotted) + 1:].split(".") if cls.startswith(dotted + ".") else []
    return "::".join([module, *[c for c in rest if c], name])


def main():
    if len(sys.argv) not in (3, 4):
        sys.exit(__doc__)
    xml, module = sys.argv[1], sys.argv[2]
    tag = sys.argv[3] + " " if len(sys.argv) == 4 and sys.argv[3] else ""
    try:
        root = ET.parse(xml).getroot()
    except (OSError, ET.ParseError) as e:
        print(f"e2e-verdict: {xml}: {e}", file=sys.stderr)
        sys.exit(3)
    passed, failed, lines = 0, 0, []
    for case in root.iter("testcase"):
        bad = [(kind, case.find(kind)) for kind in ("failure", "error")]
        bad = [(kind, el) for kind, el in bad if el is not None]
        if not bad:
            passed += case.find("skipped") is None
            continue
        for kind, el in bad:
            failed += 1
            msg = (el.get("message") or "").strip().splitlines()
            word = "FAILED" if kind == "failure" else "ERROR"
            lines.append(f"{word} {tag}{node_id(module, case)}" + (f" - {msg[0]}" if msg else ""))
    print(passed, failed)
    for line in lines:
        print(line)


if __name__ == "__main__":
    main()
