#!/usr/bin/env python3
"""Builds train.tsv, dev.tsv and test.tsv of the debtags set in DEST from a
Debian Packages index on stdin, with the rule of ../shared/data/debtags/
SOURCES.txt: every binary package that carries a Tag field; fields Package,
Source (the source package's name, else the package's), Description (the
one-line synopsis) and Tag, without the special:: and suite:: tags (a
package left with no tag is not kept); split by SOURCE package:
int(sha256(source)[:8], 16) % 10: 0-7 train, 8 dev, 9 test.  Rows sorted by
package; tags comma-separated and sorted.  Used by scripts/fetch_debtags.sh
where there is no shared copy.

    /usr/lib/apt/apt-helper cat-file INDEX | python3 debtags_from_packages.py DEST
"""
import hashlib
import os
import sys


def stanzas(lines):
    fields, key = {}, None
    for line in lines:
        line = line.rstrip("\n")
        if not line:
            if fields:
                yield fields
            fields, key = {}, None
        elif line[0] in " \t":
            if key:
                fields[key] += "\n" + line.strip()
        else:
            key, _, value = line.partition(":")
            fields[key] = value.strip()
    if fields:
        yield fields


def main():
    dest = sys.argv[1]
    rows = {}
    for f in stanzas(sys.stdin):
        package, tag = f.get("Package"), f.get("Tag")
        if not package or not tag or package in rows:
            continue
        tags = sorted({t.strip() for t in tag.replace("\n", " ").split(",")
                       if t.strip() and not t.strip().startswith(("special::", "suite::"))})
        if not tags:
            continue
        source = (f.get("Source") or package).split()[0]
        description = f.get("Description", "").split("\n")[0].replace("\t", " ").strip()
        rows[package] = (source, description, ",".join(tags))
    splits = {"train": [], "dev": [], "test": []}
    for package in sorted(rows):
        source, description, tags = rows[package]
        bucket = int(hashlib.sha256(source.encode()).hexdigest()[:8], 16) % 10
        name = "train" if bucket < 8 else "dev" if bucket == 8 else "test"
        splits[name].append(f"{package}\t{description}\t{tags}\n")
    for name, lines in splits.items():
        path = os.path.join(dest, name + ".tsv")
        with open(path + ".partial", "w", encoding="utf-8") as out:
            out.write("package\tdescription\ttags\n")
            out.writelines(lines)
        os.replace(path + ".partial", path)
        print(f"debtags: {path}: {len(lines)} rows", file=sys.stderr)


if __name__ == "__main__":
    main()
