#!/usr/bin/env python3
"""Fails if any module of a workspace crate imports a module that imports it back.

Every `.rs` file under a crate's `src/` is a module (`src/a/b.rs` and
`src/a/b/mod.rs` are `a::b`). A module imports another when one of its paths
(`use` declarations, including re-exports, and `crate::...`/`super::...` paths
in code) names an item *defined* in that module. Re-exports are followed to
the definition, as rust-analyzer (and `cargo modules`) resolve them:
`crate::frame::Frame` is defined in `frame::handle` and re-exported by
`frame`, so a module using it imports `frame::handle`; and `frame`'s own
`pub use handle::Frame` imports `frame::handle`.

Inline `#[cfg(test)]` (and `#[cfg(loom)]`) modules are left out: they are
children that import their parent, not the other way round.

Usage: check-module-cycles.py [CRATE_DIR ...] (default: every workspace crate).
Exit status 1 with the cycles listed when there are any.
"""

import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_CRATES = [
    "crates/framekeep-core",
    "crates/framekeep-cv",
    "crates/framekeep-v4l",
    "crates/framekeep-ipc",
    "crates/framekeep-cli",
    "calib",
    ".",
]


def modules_of(src):
    """Module path (tuple) -> file, for every module file under `src`."""
    mods = {}
    for dirpath, _dirs, files in os.walk(src):
        if os.path.relpath(dirpath, src).split(os.sep)[0] == "bin":
            continue
        for f in files:
            if not f.endswith(".rs"):
                continue
            rel = os.path.relpath(os.path.join(dirpath, f), src)
            parts = rel[:-3].split(os.sep)
            if parts == ["lib"] or parts == ["main"]:
                key = ()
            elif parts[-1] == "mod":
                key = tuple(parts[:-1])
            else:
                key = tuple(parts)
            mods[key] = os.path.join(dirpath, f)
    return mods


def strip_tests_and_comments(text):
    text = re.sub(r"//[^\n]*", "", text)
    out = []
    i = 0
    pat = re.compile(r"#\[cfg\((?:test|loom)\)\]\s*(?:pub(?:\([^)]*\))?\s+)?mod\s+\w+\s*\{")
    while True:
        m = pat.search(text, i)
        if not m:
            out.append(text[i:])
            break
        out.append(text[i : m.start()])
        depth = 1
        j = m.end()
        while j < len(text) and depth:
            if text[j] == "{":
                depth += 1
            elif text[j] == "}":
                depth -= 1
            j += 1
        i = j
    return "".join(out)


def flatten_use(tree):
    tree = tree.strip()
    if tree.startswith("{") and tree.endswith("}"):
        body, prefix = tree[1:-1], ""
    else:
        m = re.match(r"^(.*?)::\{(.*)\}$", tree, re.S)
        if not m:
            return [re.sub(r"\s+as\s+\w+$", "", tree)]
        prefix, body = m.group(1) + "::", m.group(2)
    parts, depth, cur = [], 0, ""
    for ch in body:
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append(cur)
            cur = ""
        else:
            cur += ch
    parts.append(cur)
    out = []
    for p in parts:
        if p.strip():
            out += [prefix + q for q in flatten_use(p.strip())]
    return out


def resolve(path, here, mods, children, reexports, depth=0):
    """The module that defines what a path names, or None (std, other crates)."""
    segs = [x for x in path.split("::") if x]
    if not segs or depth > 20:
        return None
    if segs[0] == "crate":
        base, rest = (), segs[1:]
    elif segs[0] == "super":
        base = here
        rest = segs
        while rest and rest[0] == "super":
            base = base[:-1]
            rest = rest[1:]
    elif segs[0] == "self":
        base, rest = here, segs[1:]
    elif segs[0] in children.get(here, ()):
        base, rest = here, segs
    else:
        return None
    mod = base
    while rest and mod + (rest[0],) in mods:
        mod = mod + (rest[0],)
        rest = rest[1:]
    # `rest[0]` is an item of `mod`, or a name `mod` re-exports: follow it.
    if rest:
        name = rest[0]
        names = reexports.get(mod, {})
        if name in names:
            return resolve(names[name], mod, mods, children, reexports, depth + 1)
        if name not in DEFINED.get(mod, set()):
            # A glob re-export (`pub use camera::*`) of a module that has it.
            for target in names.get("*", ()):
                found = resolve(target + "::" + name, mod, mods, children, reexports, depth + 1)
                if found is not None and name in DEFINED.get(found, set()):
                    return found
    return mod


DEFINED = {}
DEF_RE = re.compile(
    r"\bpub(?:\([^)]*\))?\s+(?:unsafe\s+)?(?:const\s+fn|fn|struct|enum|type|const|static|trait|mod)\s+(\w+)"
)


def reexports_of(mods):
    """Module -> {exported name: path it re-exports (relative to the module)}."""
    out = {}
    for m, f in mods.items():
        text = strip_tests_and_comments(open(f, encoding="utf-8").read())
        names = {}
        for u in re.finditer(r"(?:^|[;{}\s])pub(?:\([^)]*\))?\s+use\s+([^;]+);", text):
            for p in flatten_use(" ".join(u.group(1).split())):
                alias = re.search(r"\s+as\s+(\w+)$", p)
                p = re.sub(r"\s+as\s+\w+$", "", p)
                name = alias.group(1) if alias else p.split("::")[-1]
                if name == "*":
                    names.setdefault("*", []).append(p[: -len("::*")])
                elif name != "self":
                    names[name] = p
        out[m] = names
    return out


def edges_of(crate_dir):
    src = os.path.join(crate_dir, "src")
    if not os.path.isdir(src):
        return {}, {}
    mods = modules_of(src)
    children = {}
    for m in mods:
        if m:
            children.setdefault(m[:-1], set()).add(m[-1])
    reexports = reexports_of(mods)
    DEFINED.clear()
    for m, f in mods.items():
        DEFINED[m] = set(DEF_RE.findall(strip_tests_and_comments(open(f, encoding="utf-8").read())))
    edges = {m: set() for m in mods}
    for m, f in mods.items():
        text = strip_tests_and_comments(open(f, encoding="utf-8").read())
        paths = []
        use_re = re.compile(r"(?:^|(?<=[;{}\s]))(?:pub(?:\([^)]*\))?\s+)?use\s+([^;]+);")
        for u in use_re.finditer(text):
            paths += flatten_use(" ".join(u.group(1).split()))
        # Paths in code (not in the `use` declarations just read, whose
        # grouped form `a::{b, c}` would otherwise read as naming `a`).
        code = use_re.sub(";", text)
        paths += re.findall(r"\b(crate(?:::\w+)+)", code)
        paths += re.findall(r"(?<![\w:])((?:super::)+\w+(?:::\w+)*)", code)
        for p in paths:
            target = resolve(p, m, mods, children, reexports)
            if target is not None and target != m:
                edges[m].add(target)
    return mods, edges


def cycles(edges):
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on, out = {}, {}, [], set(), []
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in edges.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(comp)

    sys.setrecursionlimit(10000)
    for v in list(edges):
        if v not in index:
            visit(v)
    return out


def name(m):
    return "::".join(m) or "<crate root>"


def main():
    crates = sys.argv[1:] or [c for c in DEFAULT_CRATES if os.path.isdir(os.path.join(ROOT, c, "src"))]
    failed = False
    for c in crates:
        mods, edges = edges_of(os.path.join(ROOT, c))
        for comp in cycles(edges):
            failed = True
            members = set(comp)
            print(f"{c}: modules import each other: {', '.join(sorted(name(m) for m in comp))}")
            for m in sorted(comp):
                for t in sorted(edges[m] & members):
                    print(f"    {name(m)} -> {name(t)}")
    if failed:
        sys.exit(1)
    print(f"module cycles: none in {len(crates)} crate(s)")


if __name__ == "__main__":
    main()
