#!/usr/bin/env python3
"""check_map.py - runs zone-map on a dump and checks the SVG it writes.

The checker reads the dump itself (its own small parser, not the tool's) and
checks, map by map: the data-* numbers and the visible stats against what the
dump's lines add up to; one rectangle per block or free region and row it
touches, in address order, each at the x and of the width its bytes give
(widths proportional to sizes), in the colour of its kind, the colours being
the legend's; the largest free region marked once; a gap marker between
extents; each map's data-dump naming the dump that --dump, --last and
--every should have chosen. --expect pins numbers known by construction, so
the test does not only compare the tool with a second copy of its own
arithmetic.

usage: check_map.py ZONE_MAP INPUT [options] [-- zone-map args...]
  --stdin               feed INPUT on stdin instead of naming it
  --expect M:KEY=VALUE  map M (1-based) has KEY (a data-* name without
                        "data-", or "rects", "gaps") equal to VALUE;
                        KEY>=VALUE and KEY<=VALUE compare
  --maps N              the picture holds N maps
  --header-consistent   the dump headers agree with their lines
  --fail REGEX          zone-map must fail with REGEX on stderr
  --status N            ... and exit with status N
  --tty                 run zone-map with its stdout on a terminal (a pty),
                        which must receive nothing
  --png                 the output is a PNG (exit 77, a skip, with no
                        converter installed)
  --path DIRS           run zone-map with PATH=DIRS
  --label M:REGEX       map M's label matches REGEX
Exits 0 when every check passes, 1 with the first failure, 77 to skip.
"""
import math
import os
import pty
import re
import shutil
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET

SVG = "{http://www.w3.org/2000/svg}"
TOLERANCE = 0.002  # the tool writes coordinates with 3 decimals


class CheckFailed(Exception):
    pass


def require(cond, what):
    if not cond:
        raise CheckFailed(what)


def parse_dumps(text):
    """Dumps as dicts: header fields and items [addr, size, used]."""
    dumps = []
    for line in text.splitlines():
        s = line.strip()
        if re.match(r"zone\s", s) and "size=" in s:
            fields = dict(kv.split("=", 1) for kv in s.split()[1:] if "=" in kv)
            dumps.append({"header": {k: int(v) for k, v in fields.items() if v.isdigit()},
                          "items": [], "number": len(dumps) + 1})
        elif s.lower().startswith("0x"):
            addr, size, kind = s.split()[:3]
            item = [int(addr, 16), int(size), kind == "used"]
            items = dumps[-1]["items"]
            if items and not item[2] and not items[-1][2] and \
                    items[-1][0] + items[-1][1] == item[0]:
                items[-1][1] += item[1]  # adjacent free lines are one region
            else:
                items.append(item)
    return dumps


def extents_of(items):
    """Lists of items, one per run of contiguous addresses."""
    runs = []
    for it in items:
        if runs and runs[-1][-1][0] + runs[-1][-1][1] == it[0]:
            runs[-1].append(it)
        else:
            runs.append([it])
    return runs


def stats_of(items):
    free = [it for it in items if not it[2]]
    size = sum(it[1] for it in items)
    used = sum(it[1] for it in items if it[2])
    largest = max((it[1] for it in free), default=0)
    nfree = size - used
    return {
        "size": size, "used": used, "free": nfree, "largest-free": largest,
        "blocks": sum(1 for it in items if it[2]), "free-regions": len(free),
        "extents": len(extents_of(items)),
        "fragmentation": 0.0 if nfree == 0 else 1 - largest / nfree,
    }


def has_class(el, name):
    return name in el.get("class", "").split()


def check_map(g, dump, index, legend_fills):
    items = dump["items"]
    require(g.get("data-dump") == str(dump["number"]),
            f"map {index}: data-dump={g.get('data-dump')}, expected dump {dump['number']}")
    want = stats_of(items)
    for key, value in want.items():
        got = g.get("data-" + key)
        require(got is not None, f"map {index}: no data-{key}")
        if key == "fragmentation":
            require(abs(float(got) - value) < 1e-5,
                    f"map {index}: fragmentation {got}, the dump gives {value:.6f}")
        else:
            require(int(got) == value, f"map {index}: data-{key}={got}, the dump gives {value}")

    texts = " ".join("".join(t.itertext()) for t in g.iter(SVG + "text"))
    require(f"fragmentation {want['fragmentation']:.3f}" in texts,
            f"map {index}: the stats text lacks 'fragmentation {want['fragmentation']:.3f}'")
    require(re.search(rf"\b{want['blocks']} blocks?\b", texts),
            f"map {index}: the stats text lacks the block count {want['blocks']}")
    require(re.search(rf"\b{want['free-regions']} free regions?\b", texts),
            f"map {index}: the stats text lacks the free region count")

    row = int(g.get("data-row-bytes"))
    px = float(g.get("data-row-px"))
    x0 = float(g.get("data-x0"))
    summary = g.get("data-summary") == "1"
    rects = [r for r in g.iter(SVG + "rect")
             if has_class(r, "used") or has_class(r, "free")]

    # The rectangles the dump's items should make, in order: per extent, in a
    # summary, first one used-coloured rectangle per row, then the free
    # regions at least 1 px wide; else every item, split at row ends.
    expected = []  # (item number, item, x, width, row number within extent, extent number)
    largest_size = want["largest-free"]
    largest_item = next((k for k, it in enumerate(items) if not it[2] and it[1] == largest_size),
                        None)
    k = 0
    for e, ext in enumerate(extents_of(items)):
        base = ext[0][0]
        if summary:
            ext_bytes = ext[-1][0] + ext[-1][1] - base
            for r in range(-(-ext_bytes // row)):
                in_row = min(row, ext_bytes - r * row)
                expected.append((None, [base + r * row, in_row, True], x0, in_row * px / row, r, e))
        for it in ext:
            off, left = it[0] - base, it[1]
            while left:
                col = off % row
                take = min(row - col, left)
                width = take * px / row
                if summary:
                    width = max(width, 1.0)
                if not (summary and it[2]):
                    expected.append((k, it, x0 + col * px / row, width, off // row, e))
                off += take
                left -= take
            k += 1
    require(len(rects) == len(expected),
            f"map {index}: {len(rects)} rectangles, the dump makes {len(expected)}")

    used_fills, free_fills = set(), set()
    last_fill_of_used, prev_item, prev_y, prev_key = None, None, None, None
    rows_y = {}
    for (k, it, x, w, r, e), rect in zip(expected, rects):
        where = f"map {index}, item 0x{it[0]:x} ({it[1]} bytes)"
        rx, rw, ry = float(rect.get("x")), float(rect.get("width")), float(rect.get("y"))
        require(abs(rx - x) < TOLERANCE, f"{where}: x={rx}, expected {x:.3f}")
        require(abs(rw - w) < TOLERANCE, f"{where}: width={rw}, expected {w:.3f}")
        # Rows go down: a new row or extent is lower, the same row level.
        key = (e, r)
        rows_y.setdefault(key, ry)
        require(rows_y[key] == ry, f"{where}: left its row")
        if prev_key is not None and key > prev_key:
            require(ry > prev_y, f"{where}: row {r} is not below the row before")
        prev_y, prev_key = ry, key
        fill = rect.get("fill")
        if it[2]:
            require(has_class(rect, "used"), f"{where}: not drawn as used")
            used_fills.add(fill)
            require(has_class(rect, "summary") == (k is None), f"{where}: summary marking")
            if not summary and k != prev_item and last_fill_of_used is not None:
                require(fill != last_fill_of_used, f"{where}: same colour as the block before")
            last_fill_of_used = fill
        else:
            require(has_class(rect, "free"), f"{where}: not drawn as free")
            is_largest = k == largest_item
            require(has_class(rect, "largest") == is_largest,
                    f"{where}: largest-free marking is wrong")
            if not is_largest:
                free_fills.add(fill)
        prev_item = k
    require(not (used_fills & free_fills), f"map {index}: used and free share a colour")
    require(len(free_fills) <= 1, f"map {index}: free regions in several colours {free_fills}")
    largest_fills = {r.get("fill") for r in rects if has_class(r, "largest")}
    for fill in used_fills | free_fills | largest_fills:
        require(fill in legend_fills, f"map {index}: colour {fill} is not in the legend")
    require(not (largest_fills & (used_fills | free_fills)),
            f"map {index}: the largest free region's colour is not its own")

    gaps = [x for x in g.iter(SVG + "g") if has_class(x, "gap")]
    runs = extents_of(items)
    require(len(gaps) == len(runs) - 1,
            f"map {index}: {len(gaps)} gap markers for {len(runs)} extents")
    for gap, (a, b) in zip(gaps, zip(runs, runs[1:])):
        between = b[0][0] - (a[-1][0] + a[-1][1])
        require(int(gap.get("data-bytes")) == between,
                f"map {index}: gap of {gap.get('data-bytes')} bytes, the dump has {between}")
    return {"rects": len(rects), "gaps": len(gaps)}


def compare(index, key, op, value, got):
    got_f, want_f = float(got), float(value)
    ok = {"=": math.isclose(got_f, want_f, abs_tol=1e-5), ">=": got_f >= want_f,
          "<=": got_f <= want_f}[op]
    require(ok, f"map {index}: {key} is {got}, expected {op} {value}")


def main(argv):
    if len(argv) < 3:
        print(__doc__, file=sys.stderr)
        return 2
    tool, input_path = argv[1], argv[2]
    rest = argv[3:]
    tool_args = []
    if "--" in rest:
        tool_args = rest[rest.index("--") + 1:]
        rest = rest[:rest.index("--")]
    use_stdin = header_consistent = png = tty = False
    expects, maps, fail, path, labels, status = [], None, None, None, [], None
    i = 0
    while i < len(rest):
        a = rest[i]
        if a == "--stdin":
            use_stdin = True
        elif a == "--header-consistent":
            header_consistent = True
        elif a == "--png":
            png = True
        elif a == "--tty":
            tty = True
        elif a in ("--expect", "--maps", "--fail", "--path", "--label", "--status"):
            i += 1
            if a == "--expect":
                m = re.fullmatch(r"(\d+):([a-z-]+)(>=|<=|=)(.+)", rest[i])
                require(m, f"bad --expect {rest[i]}")
                expects.append((int(m[1]), m[2], m[3], m[4]))
            elif a == "--maps":
                maps = int(rest[i])
            elif a == "--path":
                path = rest[i]
            elif a == "--status":
                status = int(rest[i])
            elif a == "--label":
                m, _, regex = rest[i].partition(":")
                labels.append((int(m), regex))
            else:
                fail = rest[i]
        else:
            print(f"check_map.py: unknown option {a}", file=sys.stderr)
            return 2
        i += 1

    if png and not fail and not any(shutil.which(c) for c in ("rsvg-convert", "magick", "convert")):
        print("skip: no rsvg-convert or ImageMagick installed")
        return 77

    with open(input_path, "rb") as f:
        data = f.read()
    cmd = [tool] + tool_args + ([] if use_stdin else [input_path])
    env = dict(os.environ)
    if path is not None:
        env["PATH"] = path
    if tty:
        # stdout on a pty, read as the tool runs (a full terminal would block
        # it); stdin and stderr through files.
        try:
            master, slave = pty.openpty()
        except OSError as e:
            print(f"skip: no pseudo-terminal: {e}")
            return 77
        with tempfile.TemporaryFile() as stdin_file, tempfile.TemporaryFile() as stderr_file:
            stdin_file.write(data if use_stdin else b"")
            stdin_file.seek(0)
            child = subprocess.Popen(cmd, stdin=stdin_file, stdout=slave, stderr=stderr_file,
                                     env=env)
            os.close(slave)
            on_terminal = b""
            while True:
                try:
                    chunk = os.read(master, 65536)
                except OSError:  # EIO: no process holds the terminal any more
                    break
                if not chunk:
                    break
                on_terminal += chunk
            os.close(master)
            child.wait()
            stderr_file.seek(0)
            proc = subprocess.CompletedProcess(cmd, child.returncode, None, stderr_file.read())
        require(on_terminal == b"", f"zone-map wrote {len(on_terminal)} bytes to the terminal")
    else:
        proc = subprocess.run(cmd, input=data if use_stdin else b"", capture_output=True, env=env)
    stderr = proc.stderr.decode(errors="replace")
    if fail is not None:
        require(proc.returncode != 0, f"zone-map succeeded, expected a failure /{fail}/")
        require(status is None or proc.returncode == status,
                f"zone-map exited {proc.returncode}, expected {status}")
        require(re.search(fail, stderr), f"zone-map's error {stderr!r} does not match /{fail}/")
        print(f"ok: failed as expected: {stderr.strip()}")
        return 0
    require(proc.returncode == 0, f"zone-map exited {proc.returncode}: {stderr}")
    out = proc.stdout
    if "-o" in tool_args:
        with open(tool_args[tool_args.index("-o") + 1], "rb") as f:
            out = f.read()
    if png:
        require(out.startswith(b"\x89PNG\r\n\x1a\n"), "the output is not a PNG")
        width, height = int.from_bytes(out[16:20], "big"), int.from_bytes(out[20:24], "big")
        require(width > 0 and height > 0, "the PNG has no pixels")
        print(f"ok: PNG {width}x{height}")
        return 0

    root = ET.fromstring(out)
    require(root.tag == SVG + "svg", "the output is not SVG")
    dumps = parse_dumps(data.decode())
    # The dumps zone-map should draw: --last or --dump N, N-M, N- first,
    # then every K-th of those and the last.
    if "--last" in tool_args:
        dumps = dumps[-1:]
    elif "--dump" in tool_args:
        spec = tool_args[tool_args.index("--dump") + 1]
        m = re.fullmatch(r"(\d+)(-(\d*))?", spec)
        require(m, f"check_map.py can't read --dump {spec}")
        first = int(m[1])
        last = first if m[2] is None else int(m[3]) if m[3] else len(dumps)
        dumps = dumps[first - 1:last]
    every = 1
    if "--every" in tool_args:
        every = int(tool_args[tool_args.index("--every") + 1])
    dumps = [d for k, d in enumerate(dumps) if k % every == 0 or k == len(dumps) - 1]
    groups = [g for g in root.iter(SVG + "g") if has_class(g, "map")]
    require(len(groups) == len(dumps), f"{len(groups)} maps for {len(dumps)} dumps")
    require(maps is None or len(groups) == maps, f"{len(groups)} maps, expected {maps}")
    require(root.get("data-maps") == str(len(groups)), "data-maps is wrong")

    legend = next(g for g in root.iter(SVG + "g") if has_class(g, "legend"))
    legend_fills = {r.get("fill") for r in legend.iter(SVG + "rect")}
    counts = []
    for n, (g, d) in enumerate(zip(groups, dumps), 1):
        counts.append(check_map(g, d, n, legend_fills))
        if header_consistent:
            want, h = stats_of(d["items"]), d["header"]
            for hk, k in (("size", "size"), ("used", "used"), ("free", "free"),
                          ("largest_free", "largest-free"), ("blocks", "blocks"),
                          ("free_regions", "free-regions"), ("extents", "extents")):
                require(h.get(hk) == want[k],
                        f"dump {n}: header {hk}={h.get(hk)}, its lines give {want[k]}")

    animated = root.get("data-animated") == "1"
    if animated and len(groups) > 1:
        visible = [g for g in groups if g.get("visibility") == "visible"]
        require(visible == [groups[-1]], "an animation shows the last map where SMIL is off")
        for n, g in enumerate(groups):
            anim = g.find(SVG + "animate")
            require(anim is not None and anim.get("attributeName") == "visibility",
                    f"map {n + 1}: no visibility animation")
            times = [float(t) for t in anim.get("keyTimes").split(";")]
            values = anim.get("values").split(";")
            require(len(times) == len(values) and times == sorted(times) and times[0] == 0,
                    f"map {n + 1}: bad keyTimes")
            shown = times[values.index("visible")]
            require(math.isclose(shown, n / len(groups), abs_tol=1e-3),
                    f"map {n + 1}: shown at {shown}, expected {n / len(groups):.3f}")
    else:
        require(all(g.get("visibility") is None for g in groups), "a strip hides maps")

    for index, key, op, value in expects:
        require(1 <= index <= len(groups), f"--expect names map {index} of {len(groups)}")
        got = counts[index - 1][key] if key in ("rects", "gaps") else \
            groups[index - 1].get("data-" + key)
        require(got is not None, f"map {index} has no {key}")
        compare(index, key, op, value, got)

    for index, regex in labels:
        label = next(t for t in groups[index - 1].iter(SVG + "text") if has_class(t, "label"))
        text = "".join(label.itertext())
        require(re.search(regex, text), f"map {index}: label {text!r} does not match /{regex}/")

    print(f"ok: {len(groups)} map(s), {sum(c['rects'] for c in counts)} rectangles checked")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv))
    except CheckFailed as e:
        print(f"FAIL: {e}", file=sys.stderr)
        sys.exit(1)
