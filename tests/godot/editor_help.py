#!/usr/bin/env python3
"""Editor help under test: what the Rust sources document, compared with what the editor shows.

`expected` reads the documentation of every exported item from the sources (the `///`
comments on `#[derive(GodotClass)]` structs, `#[func]`s, `#[signal]`s, `#[export]`/`#[var]`
fields and `#[constant]`s; the hand-registered class descriptions (`CLASS_DOC` passed to
`register_class_docs`), properties (`Property { doc: ... }`) and enums (`register_enum`, with
the texts of `upnp-core`'s `engine_enum!` tables)). `check` takes what the editor plugin
(editor-help/plugin.gd) dumped: each class's members as ClassDB lists them and the parsed
text of its help page, and checks, one result line per item:

  - every member ClassDB lists has a description in the sources (a missing doc comment
    fails here), and every documented item is registered;
  - the page's entry for that member (its bullet in the right section) holds the
    description's text: the plain fragments between its BBCode tags, in order (the editor
    renders the tags themselves, e.g. [method start] as "start()").

Ends with "godot-tests: N passed, M failed".
"""

import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CLASSES_DIR = ROOT / "rust/godot-upnp/src/classes"
ENUM_TABLES = ROOT / "rust/upnp-core/src/protocol/result.rs"
NO_DESCRIPTION = "There is currently no description"


def rust_string(text, start):
    """Decodes the Rust string literal whose opening quote is at text[start]; returns
    (value, index after the closing quote)."""
    assert text[start] == '"', text[start : start + 20]
    out, i = [], start + 1
    escapes = {"n": "\n", "t": "\t", '"': '"', "\\": "\\", "'": "'", "0": "\0", "r": "\r"}
    while text[i] != '"':
        c = text[i]
        if c == "\\":
            nxt = text[i + 1]
            if nxt == "\n":  # line continuation: the newline and the next line's indent go
                i += 2
                while text[i] in " \t\n\r":
                    i += 1
                continue
            out.append(escapes[nxt])
            i += 2
            continue
        out.append(c)
        i += 1
    return "".join(out), i + 1


def string_after(text, pattern):
    """The string literal right after the regex `pattern` (which ends before its quote)."""
    m = re.search(pattern, text)
    return rust_string(text, m.end())[0] if m else None


def enum_tables():
    """upnp-core's engine_enum! tables: enum name -> [(constant, description)]."""
    text = ENUM_TABLES.read_text()
    tables = {}
    for m in re.finditer(r"pub enum (\w+) \{(.*?)\n    \}", text, re.S):
        values = []
        for v in re.finditer(r'=> "(\w+)", ', m.group(2)):
            values.append((v.group(1), rust_string(m.group(2), v.end())[0]))
        tables[m.group(1)] = values
    return tables


def class_names(text, engine_names):
    """Rust struct name -> registered class name, for each #[derive(GodotClass)] in a file."""
    names = {}
    for m in re.finditer(r"#\[derive\(GodotClass\)\]\n((?:\s*#\[.*\]\n)+)\s*pub struct (\w+)", text):
        attrs, struct = m.group(1), m.group(2)
        name = struct
        for a in re.finditer(r"#\[(?:cfg_attr\((not\()?feature = \"engine-names\"\)?, )?class\((.*)\)\]", attrs):
            negated, args = a.group(1), a.group(2)
            if "cfg_attr" in a.group(0) and bool(negated) == engine_names:
                continue
            r = re.search(r"rename = (\w+)", args)
            if r:
                name = r.group(1)
        names[struct] = name
    return names


def doc_comments(text):
    """Items introduced by `///` comments: yields (kind, name, doc) for the class struct
    ("class", struct name), #[func]/#[signal] fns, #[export]/#[var] fields, #[constant]s."""
    doc, kind = [], None
    for line in text.splitlines():
        s = line.strip()
        if s.startswith("///"):
            doc.append(s[4:] if s.startswith("/// ") else s[3:])
            continue
        if s.startswith("#["):
            if s.startswith("#[func"):
                kind = "method"
            elif s.startswith("#[signal"):
                kind = "signal"
            elif s.startswith(("#[export", "#[var")):
                kind = "property"
            elif s.startswith("#[constant"):
                kind = "constant"
            continue
        m = re.match(r"pub struct (\w+)", s)
        if m:
            yield "class", m.group(1), "\n".join(doc)
        elif kind in ("method", "signal"):
            m = re.match(r"(?:pub )?fn (\w+)", s)
            if m:
                yield kind, m.group(1), "\n".join(doc)
        elif kind == "property":
            m = re.match(r"(?:pub )?(\w+):", s)
            if m:
                yield kind, m.group(1), "\n".join(doc)
        elif kind == "constant":
            m = re.match(r"(?:pub )?const (\w+)", s)
            if m:
                yield kind, m.group(1), "\n".join(doc)
        doc, kind = [], None


def expected(engine_names):
    """Class name -> {"class": doc, "method"/"property"/"signal"/"constant": {name: doc}}."""
    tables = enum_tables()
    result = {}
    for path in sorted(CLASSES_DIR.glob("*.rs")):
        text = path.read_text()
        names = class_names(text, engine_names)
        if not names:
            continue
        docs = {struct: {"class": "", "method": {}, "property": {}, "signal": {}, "constant": {}} for struct in names}
        struct = next(iter(names))  # the items below belong to the file's one class
        for kind, name, doc in doc_comments(text):
            if kind == "class":
                if name in docs:
                    struct = name
                    docs[name]["class"] = doc
            else:
                docs[struct][kind][name] = doc
        # Hand-registered class descriptions replace the struct's comment.
        for m in re.finditer(r"register_class_docs::<(\w+)>\(\s*\"\w+\",\s*(\w+),", text):
            docs[m.group(1)]["class"] = string_after(text, r"const " + m.group(2) + r": &str = ")
        for m in re.finditer(r"Property \{(.*?)\n\s*\}", text, re.S):
            body = m.group(1)
            docs[struct]["property"][string_after(body, r"name: ")] = string_after(body, r"doc: ")
        for m in re.finditer(r"register_enum::<(\w+)>\(\s*\"\w+\",\s*(.*?)\n    \);", text, re.S):
            owner, body = m.group(1), m.group(2)
            table = re.match(r"(\w+)::ALL", body.strip())
            if table:
                values = tables[table.group(1)]
            else:
                values = []
                for v in re.finditer(r'\(\s*"(\w+)",\s*\w+,\s*', body):
                    values.append((v.group(1), rust_string(body, v.end())[0]))
            for name, doc in values:
                docs[owner]["constant"][name] = doc
        for struct, name in names.items():
            result[name] = docs[struct]
    return result


def normalize(s):
    return re.sub(r"\s+", " ", s.replace("\u00a0", " ")).strip()


def fragments(doc):
    """The plain text between BBCode tags (and Markdown code spans), each normalized."""
    # Paragraphs too: the editor shows a class's first one apart, as its brief description.
    parts = re.split(r"\[[^\]]*\]|`|\n\s*\n", doc)
    return [f for f in (normalize(p) for p in parts) if f]


def contains_in_order(text, doc):
    """None when every fragment of doc appears in text in order, else the first missing one."""
    text, pos = normalize(text), 0
    for f in fragments(doc):
        i = text.find(f, pos)
        if i < 0:
            return f
        pos = i + len(f)
    return None


SECTIONS = ("Properties", "Methods", "Signals", "Enumerations", "Constants",
            "Property Descriptions", "Method Descriptions")


def page_sections(page):
    """Heading -> text under it; "" holds the class header and description."""
    sections, current = {"": []}, ""
    for line in page.replace("\u00a0", " ").splitlines():
        if line.strip() in SECTIONS and not line.startswith(("\t", " ")):
            current = line.strip()
            sections[current] = []
        else:
            sections[current].append(line)
    return {k: "\n".join(v) for k, v in sections.items()}


def entries(section_text):
    """The bullets ("●") of a section: [(first line, the whole entry)]."""
    out = []
    for chunk in section_text.split("●")[1:]:
        out.append((chunk.strip().splitlines()[0] if chunk.strip() else "", chunk))
    return out


def entry_for(page, kind, name, all_names):
    """The text of the page's entry for one member, or None when the page has none."""
    sections = page_sections(page)
    if kind == "method":
        for head, body in entries(sections.get("Method Descriptions", "")):
            m = re.search(r"(\w+)\(", head)
            if m and m.group(1) == name:
                return body
    elif kind == "signal":
        for head, body in entries(sections.get("Signals", "")):
            m = re.match(r"(\w+)\(", head)
            if m and m.group(1) == name:
                return body
    elif kind == "constant":
        for sec in ("Enumerations", "Constants"):
            for head, body in entries(sections.get(sec, "")):
                m = re.match(r"(\w+) =", head)
                if m and m.group(1) == name:
                    # Stop at the next enum's heading, which is not a bullet.
                    return re.split(r"\n\s*enum \w+:", body)[0]
    elif kind == "property":
        # "booldiscover_ipv6 [default: false]...": the type runs into the name, so an entry
        # belongs to the longest property name its first word ends with.
        for head, body in entries(sections.get("Property Descriptions", "")):
            word = head.split(" ", 1)[0]
            owners = [n for n in all_names if word.endswith(n)]
            if owners and max(owners, key=len) == name:
                return body
    return None


class Results:
    def __init__(self, quiet=False):
        self.passed = self.failed = 0
        self.quiet = quiet

    def check(self, ok, what, why=""):
        if ok:
            self.passed += 1
        else:
            self.failed += 1
        if not self.quiet:
            print(f"ok   {what}" if ok else f"FAIL {what}: {why}")


def check(dump_path, engine_names, classes, summary_only=False):
    dump = json.loads(Path(dump_path).read_text())
    want = expected(engine_names)
    r = Results(quiet=summary_only)
    for cls in classes:
        got = dump["classes"].get(cls)
        if not got or not got.get("exists"):
            r.check(False, cls, "class not registered (ClassDB.class_exists is false)")
            continue
        if got.get("works_in_editor") is not None:
            r.check(got["works_in_editor"], f"{cls} works in the editor",
                    "a call on a new instance in a @tool script did not return (a placeholder: not a tool class)")
        page, docs = got["page"], want.get(cls)
        if docs is None:
            r.check(False, cls, "no #[derive(GodotClass)] with this name in " + str(CLASSES_DIR))
            continue
        waited = got.get("waited_ms", 0)
        if not page:
            r.check(False, f"{cls} help page", f"no visible EditorHelp page after {waited} ms")
            continue
        header = page_sections(page)[""]
        missing = contains_in_order(header, docs["class"]) if docs["class"] else "(no class doc in the sources)"
        r.check(missing is None, f"{cls} class description", f"missing {missing!r}")
        for kind, plural in (("method", "methods"), ("property", "properties"),
                             ("signal", "signals"), ("constant", "constants")):
            registered = got[plural]
            for name in registered:
                what = f"{cls} {kind} {name}"
                doc = docs[kind].get(name, "")
                if not doc.strip():
                    r.check(False, what, "no doc comment in the sources")
                    continue
                body = entry_for(page, kind, name, registered)
                if body is None:
                    r.check(False, what, "no entry on the help page")
                    continue
                missing = contains_in_order(body, doc)
                if missing is None and NO_DESCRIPTION in body:
                    missing = NO_DESCRIPTION
                r.check(missing is None, what, f"page entry lacks {missing!r}: {normalize(body)[:200]!r}")
            # Undocumented source items (property accessors) are not listed on their own.
            for name in sorted(n for n in set(docs[kind]) - set(registered) if docs[kind][n].strip()):
                r.check(False, f"{cls} {kind} {name}", "documented in the sources but not registered")
    if summary_only:
        print(f"{r.passed} of {r.passed + r.failed} items shown as documented")
        return True
    print(f"godot-tests: {r.passed} passed, {r.failed} failed")
    return r.failed == 0


def main(argv):
    engine_names = "--engine-names" in argv
    args = [a for a in argv if not a.startswith("--")]
    if args and args[0] == "expected":
        json.dump(expected(engine_names), sys.stdout, indent=1)
        print()
        return 0
    if len(args) >= 3 and args[0] == "check":
        return 0 if check(args[1], engine_names, args[2].split(","), "--summary" in argv) else 1
    print(__doc__.splitlines()[0] + "\nusage: editor_help.py expected [--engine-names]\n"
          "       editor_help.py check DUMP.json CLASS,CLASS... [--engine-names] [--summary]", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
