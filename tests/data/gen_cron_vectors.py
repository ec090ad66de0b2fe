#!/usr/bin/env python3
"""tests/data/gen_cron_vectors.py: the documented source of tests/data/cron_vectors.txt.

An independent brute-force model of shardcron's cron dialect (docs/cron.md), written
without looking at core/cron.c's search: every field becomes a plain Python set, a
day is checked field by field, and fire times are found by walking wall-clock days
and times in order and converting each wall time with Python's zoneinfo (its own
TZif reader). DST rules, as docs/cron.md states them:
  - a wall time that does not exist is skipped (its round trip through UTC changes it);
  - a repeated wall time fires once, at its first occurrence (fold=0), unless the hour
    field matches every hour: such a schedule fires at both occurrences (fold=0 and 1).

Output lines (tab-separated), read by tests/unit/test_cron.c:
  next  EXPR  ZONE  FROM  T1 T2 ... [END]
  prev  EXPR  ZONE  FROM  T1 T2 ... [END]
FROM and Ti are ISO 8601 with the UTC offset ("2021-03-28T03:00:00+02:00"), so they
are unambiguous; "next" lists successive cron_next results starting strictly after
FROM, "prev" successive cron_prev results; END means the following call returns -1.

CI does not run this; regenerate with:  python3 tests/data/gen_cron_vectors.py > tests/data/cron_vectors.txt
"""
import calendar
import datetime as dt
import random
import sys
from zoneinfo import ZoneInfo

UTC = dt.timezone.utc
YMIN, YMAX = 1970, 2199
MON = ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"]
DOW = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"]


class Expr:
    pass


def _value(tok, lo, hi, names, base):
    if tok.upper() in (names or []):
        return names.index(tok.upper()) + base
    v = int(tok)
    assert lo <= v <= hi, tok
    return v


def _set(text, lo, hi, names=None, base=0, wrap=True):
    out = set()
    for item in text.split(","):
        step, stepped = 1, "/" in item
        if stepped:
            item, s = item.split("/")
            step = int(s)
        if item == "*":
            a, b = lo, hi
        elif "-" in item:
            a, b = (_value(x, lo, hi, names, base) for x in item.split("-"))
        else:
            a = _value(item, lo, hi, names, base)
            b = hi if stepped else a
        vals = list(range(a, b + 1)) if a <= b else list(range(a, hi + 1)) + list(range(lo, b + 1))
        assert wrap or a <= b
        out.update(vals[::step])
    return out


def parse(text):
    e = Expr()
    f = text.split()
    e.every = None
    macros = {"@yearly": "0 0 0 1 1 ?", "@annually": "0 0 0 1 1 ?", "@monthly": "0 0 0 1 * ?",
              "@weekly": "0 0 0 ? * SUN", "@daily": "0 0 0 * * ?", "@midnight": "0 0 0 * * ?",
              "@hourly": "0 0 * * * ?"}
    if f[0].lower() == "@every":
        n, u = int(f[1][:-1]), f[1][-1].lower()
        e.every = n * {"s": 1, "m": 60, "h": 3600}[u]
        return e
    if f[0].lower() in macros:
        f = macros[f[0].lower()].split()
    unix = len(f) == 5
    if unix:
        f = ["0"] + f
    if len(f) == 6:
        f.append("*")
    e.sec = _set(f[0], 0, 59)
    e.min = _set(f[1], 0, 59)
    e.hour = _set(f[2], 0, 23)
    e.mon = _set(f[4], 1, 12, MON, 1)
    e.year = _set(f[6], YMIN, YMAX, wrap=False)
    dom, dow = f[3], f[5]
    # day-of-month: plain set + specials
    e.dom_any = dom in ("?", "*")
    e.dom_set, e.dom_last, e.dom_w, e.dom_lw = set(), set(), set(), False
    if not e.dom_any:
        for item in dom.split(","):
            u = item.upper()
            if u == "L":
                e.dom_last.add(0)
            elif u == "LW":
                e.dom_lw = True
            elif u.startswith("L-"):
                e.dom_last.add(int(u[2:]))
            elif u.endswith("W"):
                e.dom_w.add(int(u[:-1]))
            else:
                e.dom_set |= _set(item, 1, 31)
    # day-of-week: 0 = Sunday internally
    e.dow_any = dow in ("?", "*")
    e.dow_set, e.dow_last, e.dow_nth = set(), set(), set()
    if not e.dow_any:
        for item in dow.split(","):
            u = item.upper()
            if unix:
                e.dow_set |= {v % 7 for v in _set(item, 0, 7, DOW, 0)}
            elif u == "L":
                e.dow_set.add(6)
            elif "#" in u:
                w, k = u.split("#")
                e.dow_nth.add((_value(w, 1, 7, DOW, 1) - 1, int(k)))
            elif u.endswith("L"):
                e.dow_last.add(_value(u[:-1], 1, 7, DOW, 1) - 1)
            else:
                e.dow_set |= {v - 1 for v in _set(item, 1, 7, DOW, 1)}
    # Vixie: both restricted (neither starts with '*') -> either matches
    e.either = unix and not dom.startswith("*") and not dow.startswith("*")
    e.hms = sorted((h, m, s) for h in e.hour for m in e.min for s in e.sec)
    return e


def weekday(d):  # 0 = Sunday
    return (d.weekday() + 1) % 7


def day_ok(e, d):
    if d.year not in e.year or d.month not in e.mon:
        return False
    md = calendar.monthrange(d.year, d.month)[1]
    wd = weekday(d)
    # day-of-month
    dm = d.day in e.dom_set or any(d.day == md - n for n in e.dom_last)
    for t in e.dom_w:
        if t > md:
            continue
        twd = weekday(d.replace(day=t))
        target = t
        if twd == 6:
            target = 3 if t == 1 else t - 1
        elif twd == 0:
            target = md - 2 if t == md else t + 1
        dm = dm or target == d.day
    if e.dom_lw:
        last = d.replace(day=md)
        lwd = weekday(last)
        target = md - 1 if lwd == 6 else md - 2 if lwd == 0 else md
        dm = dm or d.day == target
    # day-of-week
    dw = wd in e.dow_set or (wd in e.dow_last and d.day + 7 > md)
    dw = dw or (wd, (d.day - 1) // 7 + 1) in e.dow_nth
    if e.dom_any:
        dm = True
    if e.dow_any:
        dw = True
    if e.either:
        return dm or dw
    return dm and dw


def fires_from_day(e, zone, day, reverse):
    folds = (0, 1) if e.hour == set(range(24)) else (0,)
    out = set()
    for h, m, s in e.hms:
        wall = dt.datetime(day.year, day.month, day.day, h, m, s)
        for fold in folds:
            utc = int(wall.replace(tzinfo=zone, fold=fold).timestamp())
            back = dt.datetime.fromtimestamp(utc, zone).replace(tzinfo=None)
            if back == wall:  # else it does not exist
                out.add(utc)
    yield from sorted(out, reverse=reverse)


def next_fire(e, zone, after):
    if e.every:
        n = (after // e.every + 1) * e.every
        return n if n < int(dt.datetime(2200, 1, 1, tzinfo=UTC).timestamp()) else None
    day = dt.datetime.fromtimestamp(after, zone).date() - dt.timedelta(days=2)
    day = max(day, dt.date(YMIN, 1, 1))
    while day.year <= YMAX:
        if day_ok(e, day):
            for u in fires_from_day(e, zone, day, False):
                if u > after:
                    return u
        day += dt.timedelta(days=1)
    return None


def prev_fire(e, zone, before):
    if e.every:
        n = ((before - 1) // e.every) * e.every
        return n if n >= 0 else None
    day = dt.datetime.fromtimestamp(before, zone).date() + dt.timedelta(days=2)
    day = min(day, dt.date(YMAX, 12, 31))
    while day.year >= YMIN:
        if day_ok(e, day):
            for u in fires_from_day(e, zone, day, True):
                if u < before:
                    return u
        if day == dt.date(YMIN, 1, 1):
            break
        day -= dt.timedelta(days=1)
    return None


def iso(utc, zone):
    t = dt.datetime.fromtimestamp(utc, zone)
    off = int(t.utcoffset().total_seconds())
    sign = "-" if off < 0 else "+"
    off = abs(off)
    return t.strftime("%Y-%m-%dT%H:%M:%S") + "%s%02d:%02d" % (sign, off // 3600, off // 60 % 60)


def local(zone, y, mo, d, h=0, mi=0, s=0):
    return int(dt.datetime(y, mo, d, h, mi, s, tzinfo=ZoneInfo(zone)).timestamp())


def vector(kind, expr, zname, start, count):
    zone = ZoneInfo(zname)
    e = parse(expr)
    out, t = [], start
    for _ in range(count):
        t = next_fire(e, zone, t) if kind == "next" else prev_fire(e, zone, t)
        if t is None:
            out.append("END")
            break
        out.append(iso(t, zone))
    return "%s\t%s\t%s\t%s\t%s" % (kind, expr, zname, iso(start, zone), " ".join(out))


# Start instants that sit just before interesting moments in each zone: a tuple is a
# wall time (first occurrence), an int a UTC epoch (used for second occurrences).
def _utc(y, mo, d, h, mi, s):
    return int(dt.datetime(y, mo, d, h, mi, s, tzinfo=UTC).timestamp())


STARTS = {
    "UTC": [(2017, 8, 30, 17, 22, 15), (2020, 2, 27, 23, 59, 59), (2023, 12, 31, 23, 59, 58),
            (2099, 12, 30, 0, 0, 0), (2150, 6, 15, 12, 0, 0)],
    "Asia/Shanghai": [(2017, 8, 30, 17, 22, 15), (2024, 2, 28, 23, 0, 0)],
    "Europe/Berlin": [(2021, 3, 28, 1, 59, 50), (2021, 10, 31, 1, 30, 0), (2021, 10, 31, 2, 59, 50),
                      _utc(2021, 10, 31, 1, 59, 50), (2024, 2, 28, 0, 0, 0),
                      (2150, 3, 27, 1, 0, 0)],
    "America/New_York": [(2021, 3, 14, 1, 59, 50), (2021, 11, 7, 0, 30, 0), (2021, 11, 7, 1, 59, 50),
                         _utc(2021, 11, 7, 5, 59, 50), (2100, 11, 1, 0, 0, 0),
                         (2026, 11, 1, 1, 59, 50)],
    "Australia/Lord_Howe": [(2021, 4, 4, 1, 29, 50), (2021, 4, 4, 1, 59, 50),
                            _utc(2021, 4, 3, 15, 29, 50),
                            (2021, 10, 3, 1, 59, 50), (2022, 4, 3, 1, 45, 0)],
    "Pacific/Chatham": [(2021, 4, 4, 3, 44, 50), _utc(2021, 4, 3, 14, 59, 50),
                        (2021, 9, 26, 2, 44, 50)],
    "Pacific/Apia": [(2011, 12, 29, 23, 59, 50), (2011, 12, 28, 12, 0, 0)],
}


# Expressions: a kind of schedule each; the zone list picks where they are checked.
EXPRS = [
    "0/5 * * * * ?", "*/15 * * * * ?", "10-40/10 * * * * ?", "0 * * * * ?", "0 */7 * * * ?",
    "0 0 * * * ?", "0 30 * * * ?", "0 15,45 1-3 * * ?", "0 30 2 * * ?", "0 0 2 * * ?",
    "0 45 1 * * ?", "30 30 1 * * ?", "0 0 0 * * ?", "0 0 7 ? * MON-FRI", "0 0 7 ? * 2-6",
    "0 0 12 ? * SAT,SUN", "0 0 0 L * ?", "0 0 0 L-3 * ?", "0 0 9 LW * ?", "0 0 9 15W * ?",
    "0 0 9 1W * ?", "0 0 9 31W * ?", "0 0 10 ? * FRI#3", "0 0 10 ? * 6#3", "0 0 10 ? * MON#5",
    "0 0 18 ? * FRIL", "0 0 18 ? * 1L", "0 0 0 29 2 ?", "0 0 0 30 1,4,7,10 ?",
    "0 0 0 1 JAN-MAR,OCT ?", "0 0 0 ? * L", "0 0 12 1 1 ? 2024-2026", "0 0 0 * * ? 2199",
    "0 0 6 ? * MON 2030/5", "0 0 22-2 * * ?", "0 0 0 ? * FRI-MON", "0 15 10 ? * * *",
    "0 0 0 * * *", "59 59 23 31 12 ?", "0 0 0 ? * 7L", "0 0 0 2-10/3 * ?",
    "*/20 * * * *", "0 9 * * 1-5", "30 2 * * *", "0 0 13 * 5", "0 0 1,15 * 3", "0 0 * * 0",
    "0 0 * * 7", "45 23 * * 5-7", "*/30 1-3 * * *", "0 0 */2 * 1",
    "@yearly", "@monthly", "@weekly", "@daily", "@hourly", "@every 5s", "@every 2m",
    "@every 1h", "@every 7s", "@every 90m",
]


def main():
    rnd = random.Random(20261121)
    lines = []
    zones = list(STARTS)
    for expr in EXPRS:
        for zname in zones:
            starts = STARTS[zname]
            picks = starts if zname not in ("UTC", "Asia/Shanghai") else starts[:3]
            for st in picks:
                start = st if isinstance(st, int) else local(zname, *st)
                lines.append(vector("next", expr, zname, start, 5))
        # prev vectors: a few zones, random starts
        for zname in rnd.sample(zones, 2):
            st = rnd.choice(STARTS[zname])
            start = st if isinstance(st, int) else local(zname, *st)
            lines.append(vector("prev", expr, zname, start, 4))
    # Year-bounded expressions run out: END must appear.
    lines.append(vector("next", "0 0 12 1 1 ? 2024-2026", "Europe/Berlin",
                        local("Europe/Berlin", 2025, 6, 1), 4))
    lines.append(vector("next", "0 0 0 * * ? 2199", "UTC", local("UTC", 2199, 12, 29), 4))
    lines.append(vector("prev", "0 0 0 * * ? 1970", "UTC", local("UTC", 1970, 1, 3, 12), 4))
    print("# Generated by tests/data/gen_cron_vectors.py; do not edit by hand.")
    print("# kind\\texpr\\tzone\\tfrom\\texpected (ISO 8601 with offset; END = no more)")
    for line in lines:
        print(line)


if __name__ == "__main__":
    sys.exit(main())
