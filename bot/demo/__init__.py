"""A realistic synthetic 一单两库 for 获嘉县 (region code 410724), for demos and tests.

``make_library(seed)`` returns ``{"enterprises": [...], "inspectors": [...],
"conflicts": [...], "history": [...]}`` as plain dicts keyed like the importer's rows; the
same seed (and day) always gives the same library. Some objects carry a 信用风险分类;
``history`` is three years of the bureau's old system's inspections (the 12 quarters
before the current one), so risk classes, the 3-year rule and "never drawn" have a past
from the first draw on. ``write_library(directory)`` writes the four import files
(.xlsx, or .csv in UTF-8 with BOM) with the Chinese header rows the importer expects.
All names, codes and numbers are invented; word lists live in ``bot/demo/words.py``.
"""

from __future__ import annotations

import csv
import random
from datetime import date
from pathlib import Path

from bot.demo import words as W
from bot.domain.uscc import ALPHABET, check_char

REGION_CODE = "410724"
COUNTS = {W.KEY: 60, W.GENERAL: 220, W.SPECIAL: 20}
_ORG_WEIGHTS = (3, 7, 9, 10, 5, 8, 4, 2)  # GB 11714 组织机构代码 check weights
_ORG_VALUE = {c: int(c, 36) for c in "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"}
_MA_CUTOFF = date(2015, 10, 1)  # codes issued after the reform start with MA


def make_library(seed: int = 410724, today: date | None = None) -> dict:
    """The whole demo library for ``seed`` (deterministic; the history ends with the
    quarter before ``today``'s, by default today in Beijing)."""
    rng = random.Random(seed)
    enterprises = _enterprises(rng)
    inspectors = _inspectors(rng)
    conflicts = _conflicts(rng, enterprises, inspectors)
    # the columns and the history added later draw from their own generators, so every
    # value above stays what it was
    _risk_columns(random.Random(f"{seed}:risk"), enterprises)
    if today is None:
        from bot import localtime

        today = localtime.today()
    history = _history(
        random.Random(f"{seed}:history:{today.isoformat()}"), enterprises, inspectors, today
    )
    return {
        "enterprises": enterprises,
        "inspectors": inspectors,
        "conflicts": conflicts,
        "history": history,
    }


def write_library(
    directory, seed: int = 410724, fmt: str = "xlsx", today: date | None = None
) -> dict[str, Path]:
    """Write enterprises/inspectors/conflicts/history .xlsx (or .csv) into ``directory``."""
    if fmt not in ("xlsx", "csv"):
        raise ValueError(f"unknown format {fmt!r}: use 'xlsx' or 'csv'")
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    lib = make_library(seed, today)
    tables = {
        "enterprises": W.ENTERPRISE_COLUMNS,
        "inspectors": W.INSPECTOR_COLUMNS,
        "conflicts": W.CONFLICT_COLUMNS,
        "history": W.HISTORY_COLUMNS,
    }
    paths = {}
    for name, columns in tables.items():
        header = [h for h, _ in columns]
        rows = [[_cell(rec[key]) for _, key in columns] for rec in lib[name]]
        path = directory / f"{name}.{fmt}"
        (_write_xlsx if fmt == "xlsx" else _write_csv)(path, header, rows)
        paths[name] = path
    return paths


def _cell(value):
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, bool):
        return W.YES if value else W.NO
    if isinstance(value, (list, tuple)):
        return W.LIST_SEP.join(value)
    return "" if value is None else value


def _write_xlsx(path: Path, header: list, rows: list) -> None:
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    ws.title = path.stem
    for row in [header] + rows:
        ws.append(row)
    for col in ws.columns:  # readable widths; text cells stay text (USCC, phone)
        width = max(len(str(c.value or "")) for c in col)
        ws.column_dimensions[col[0].column_letter].width = min(60, max(8, width * 2))
    ws.freeze_panes = "A2"
    wb.save(path)


def _write_csv(path: Path, header: list, rows: list) -> None:
    with open(path, "w", encoding="utf-8-sig", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        writer.writerows([[str(v) for v in row] for row in rows])


# --- codes ---------------------------------------------------------------------------


def _org_code(rng: random.Random, modern: bool, first: str = "") -> str:
    """A 9-character 组织机构代码 / 主体标识码 with its GB 11714 check character."""
    if modern:
        body = "MA" + rng.choice("3459") + "".join(rng.choice(ALPHABET) for _ in range(5))
    else:
        head = first or rng.choice("67")
        body = head + "".join(rng.choice("0123456789") for _ in range(8 - len(head)))
    c = 11 - sum(_ORG_VALUE[ch] * w for ch, w in zip(body, _ORG_WEIGHTS, strict=True)) % 11
    return body + {10: "X", 11: "0"}.get(c, str(c))


def _uscc(rng: random.Random, kind: str, started: date, used: set) -> str:
    """``kind`` is the first two characters: 91 企业, 92 个体工商户, 12 事业单位."""
    while True:
        if kind == "12":
            org = _org_code(rng, False, "4")
        else:
            org = _org_code(rng, kind == "92" or started >= _MA_CUTOFF)
        body = kind + REGION_CODE + org
        code = body + check_char(body)
        if code not in used:
            used.add(code)
            return code


def _permit_no(rng: random.Random, uscc: str, permit_class: str) -> str:
    if permit_class == W.PERMIT_REG:  # 排污登记: often no number kept, else 登记编号
        return "" if rng.random() < 0.6 else uscc + "001W"
    seq = "001" if rng.random() < 0.95 else "002"
    return uscc + seq + rng.choices("PUVXZ", (80, 5, 5, 5, 5))[0]


# --- people and places ---------------------------------------------------------------


def _person(rng: random.Random, used: set) -> tuple[str, str]:
    """A new (name, CamelCase pinyin) pair not in ``used``."""
    while True:
        parts = [rng.choice(W.SURNAMES)] + rng.sample(W.GIVEN, rng.choice((1, 2, 2)))
        name = "".join(p[0] for p in parts)
        if name not in used:
            used.add(name)
            return name, "".join(p[1] for p in parts)


def _mobile(rng: random.Random, used: set) -> str:
    while (number := rng.choice(W.MOBILE_PREFIXES) + f"{rng.randrange(10**8):08d}") in used:
        pass
    used.add(number)
    return number


def _date(rng: random.Random, first: int, last: int) -> date:
    lo, hi = date(first, 1, 1).toordinal(), date(last, 12, 31).toordinal()
    return date.fromordinal(rng.randint(lo, hi))


def _place(rng: random.Random, industry: str) -> dict:
    towns = [t for t in W.TOWNSHIPS if not (industry == "畜牧业" and t[0] == "城关镇")]
    town, lng, lat = rng.choices(towns, [3 if t[0] == "城关镇" else 1 for t in towns])[0]
    region = W.COUNTY + town
    if town == "城关镇":
        address = f"{region}{rng.choice(W.ROADS)}{rng.randint(1, 400)}号"
    else:
        village = (
            rng.choice(W.VILLAGE_PREFIX)
            + rng.choice(W.SURNAMES)[0]
            + rng.choice(W.VILLAGE_SUFFIX)
            + "村"
        )
        address = (
            f"{region}{village}{rng.choice(W.DIRECTIONS)}{rng.randrange(100, 1600, 100)}米"
            if rng.random() < 0.5
            else f"{region}{village}{rng.randint(1, 300)}号"
        )
    lng_min, lng_max, lat_min, lat_max = W.BOX
    return {
        "region": region,
        "town": town,
        "address": address,
        "basin": W.HUANGHE if rng.random() < 0.1 else W.HAIHE,
        "lng": round(
            min(lng_max - 0.001, max(lng_min + 0.001, lng + rng.uniform(-0.025, 0.025))), 6
        ),
        "lat": round(min(lat_max - 0.001, max(lat_min + 0.001, lat + rng.uniform(-0.02, 0.02))), 6),
    }


# --- enterprises ---------------------------------------------------------------------


def _enterprises(rng: random.Random) -> list[dict]:
    used_codes: set[str] = set()
    used_names: set[str] = set()
    used_people: set[str] = set()
    used_phones: set[str] = set()
    out: list[dict] = []

    def add(name, kind, category, industry, pollutants, permit_class, product, started, place):
        uscc = _uscc(rng, kind, started, used_codes)
        special = category == W.SPECIAL
        credit = rng.choices(W.CREDIT, (0, 15, 45, 40) if special else (15, 65, 15, 5))[0]
        grade = ""
        if "废气" in pollutants and kind != "92":
            grade = rng.choices(W.GRADES, (0 if special else 5, 35, 45, 15))[0]
        out.append(
            {
                "name": name,
                "uscc": uscc,
                "category": category,
                "industry": industry,
                "pollutants": [p for p in W.POLLUTANT_ORDER if p in pollutants],
                "permit_no": _permit_no(rng, uscc, permit_class),
                "permit_class": permit_class,
                "region": place["region"],
                "basin": place["basin"],
                "lng": place["lng"],
                "lat": place["lat"],
                "status": W.RUNNING,
                "started_on": started.isoformat(),
                "products": product,
                "credit_rating": credit,
                "positive_list": (not special and credit in W.CREDIT[:2] and rng.random() < 0.12),
                "performance_grade": grade,
                "address": place["address"],
                "contact": _person(rng, used_people)[0],
                "phone": _mobile(rng, used_phones),
            }
        )

    def unique(make):
        while (name := make()) in used_names:
            pass
        used_names.add(name)
        return name

    fixed_count = {c: 0 for c in COUNTS}
    for template, kind, category, industry, fixed_pollutants, pclass, product in W.FIXED:
        name = unique(lambda template=template: template.format(z=rng.choice(W.ZIHAO)))
        add(
            name,
            kind,
            category,
            industry,
            fixed_pollutants,
            pclass,
            product,
            _date(rng, 1998, 2020),
            _place(rng, industry),
        )
        fixed_count[category] += 1
    n_fixed = len(out)

    industries = list(W.INDUSTRIES)
    for ci, category in enumerate(COUNTS):
        weights = [W.INDUSTRIES[i][3][ci] for i in industries]
        for _ in range(COUNTS[category] - fixed_count[category]):
            industry = rng.choices(industries, weights)[0]
            lines, base, optional, _w = W.INDUSTRIES[industry]
            solo_lines = [ln for ln in lines if ln[6]]
            solo = category != W.KEY and solo_lines and rng.random() < 0.18
            word, prefix, unit, lo, hi, step, solo_end = rng.choice(solo_lines if solo else lines)
            if solo:
                hi = max(lo, lo + (hi - lo) // 4)
            product = f"{prefix}{rng.randrange(lo, hi + 1, step)}{unit}"
            pollutants = list(base) + [p for p in optional if rng.random() < 0.4]
            place = _place(rng, industry)
            if solo:
                name = unique(
                    lambda place=place, solo_end=solo_end: (
                        W.COUNTY + place["town"] + rng.choice(W.ZIHAO) + solo_end
                    )
                )
                pclass = rng.choices((W.PERMIT_REG, W.PERMIT_SIMPLE), (85, 15))[0]
                add(
                    name,
                    "92",
                    category,
                    industry,
                    pollutants,
                    pclass,
                    product,
                    _date(rng, 2010, 2024),
                    place,
                )
                continue
            forms = [f for f in W.COMPANY_FORMS if f[0] != "厂" or industry.endswith(W.FACTORY_OK)]
            name = unique(
                lambda word=word, forms=forms: (
                    rng.choices((W.COUNTY, W.CITY), (85, 15))[0]
                    + rng.choice(W.ZIHAO)
                    + word
                    + rng.choices(*zip(*forms, strict=True))[0]
                )
            )
            pclass = rng.choices(
                (W.PERMIT_KEY, W.PERMIT_SIMPLE, W.PERMIT_REG),
                {W.KEY: (85, 15, 0), W.GENERAL: (5, 40, 55), W.SPECIAL: (30, 40, 30)}[category],
            )[0]
            add(
                name,
                "91",
                category,
                industry,
                pollutants,
                pclass,
                product,
                _date(rng, 1998, 2024),
                place,
            )

    # a few units stopped, two or three closed (never the fixed radiation units)
    others = list(range(n_fixed, len(out)))
    closable = [i for i in others if out[i]["category"] != W.KEY]
    closed = rng.sample(closable, rng.choice((2, 3)))
    stopped = rng.sample([i for i in others if i not in closed], rng.randint(5, 9))
    for i in closed + stopped:
        out[i]["status"] = W.CLOSED if i in closed else W.STOPPED
    rng.shuffle(out)
    return out


# --- inspectors ----------------------------------------------------------------------


def _level(years: int) -> str:
    return next(level for least, level in W.LEVELS if years >= least)


def _inspectors(rng: random.Random) -> list[dict]:
    used_names: set[str] = set()
    used_accounts: set[str] = set()
    used_phones: set[str] = set()
    serial = {"own": rng.randint(1, 40), "partner": rng.randint(300, 400)}

    def person(
        unit,
        department,
        position,
        region,
        years,
        expertise,
        kind=W.OFFICER,
        duty=W.ON_DUTY,
        role=W.INSPECTOR_ROLE,
        cert=None,
        pool="own",
    ):
        name, pinyin = _person(rng, used_names)
        account, n = pinyin, 0
        while account.lower() in used_accounts:
            n += 1
            account = f"{pinyin}{n:02d}"
        used_accounts.add(account.lower())
        if cert is None:
            serial[pool] += rng.randint(1, 9)
            year = rng.randint(max(2012, 2025 - years), 2024)
            cert = f"{REGION_CODE}{year}{serial[pool]:04d}"
        return {
            "name": name,
            "cert": cert,
            "unit": unit,
            "department": department,
            "position": position,
            "level": _level(years) if kind == W.OFFICER else "",
            "region": region,
            "years": years,
            "expertise": list(expertise),
            "kind": kind,
            "duty": duty,
            "role": role,
            "msg_account": account,
            "mobile": _mobile(rng, used_phones),
        }

    positions = W.POSITIONS_OWN
    members = [i for i, p in enumerate(positions) if p == "执法队员"]
    off = rng.choice(members)
    experts = rng.sample([i for i in range(len(positions)) if i != off], 4)
    out, squad = [], 0
    for i, position in enumerate(positions):
        years = rng.randint(*W.POSITION_YEARS[position])
        skills = rng.sample(W.EXPERTISE, rng.randint(1, 2 if i in experts else 3))
        expertise = ([W.RADIATION] if i in experts else []) + [
            e for e in W.EXPERTISE if e in skills
        ]
        if position in ("中队长", "执法队员"):
            region = W.COUNTY + W.SQUAD_TOWNS[squad % len(W.SQUAD_TOWNS)]
            squad += 1
        else:
            region = W.COUNTY
        out.append(
            person(
                W.BUREAU,
                W.OWN_DEPARTMENT,
                position,
                region,
                years,
                expertise,
                duty=W.OFF_DUTY if i == off else W.ON_DUTY,
                role=W.ADMIN_ROLE if i < 2 else W.INSPECTOR_ROLE,
            )
        )
    for n, (unit, region, position, aux_expertise) in enumerate(W.AUXILIARIES, 1):
        out.append(
            person(
                unit,
                "",
                position,
                region,
                rng.randint(3, 20),
                aux_expertise,
                kind=W.AUXILIARY,
                cert=f"FZ-{n:04d}",
            )
        )
    for department, unit, partner_expertise in W.PARTNERS:
        for position in W.PARTNER_POSITIONS:
            years = rng.randint(*W.POSITION_YEARS.get(position, (1, 10)))
            out.append(
                person(
                    unit,
                    department,
                    position,
                    W.COUNTY,
                    years,
                    rng.sample(partner_expertise, rng.randint(1, 2)),
                    pool="partner",
                )
            )
    return out


def _conflicts(rng: random.Random, enterprises: list[dict], inspectors: list[dict]) -> list[dict]:
    officers = [
        p
        for p in inspectors
        if p["department"] == W.OWN_DEPARTMENT and p["kind"] == W.OFFICER and p["duty"] == W.ON_DUTY
    ]
    objects = [
        e for e in enterprises if e["status"] != W.CLOSED and W.RADIATION not in e["pollutants"]
    ]
    notes = rng.sample(W.CONFLICT_NOTES, 4)
    return [
        {"cert": p["cert"], "uscc": e["uscc"], "note": note}
        for p, e, note in zip(rng.sample(officers, 4), rng.sample(objects, 4), notes, strict=True)
    ]


# --- 信用风险分类, 所属机关 and the old system's inspections ----------------------------


def _risk_columns(rng: random.Random, enterprises: list[dict]) -> None:
    """所属机关 for every object; 信用风险分类 for about a fifth of them."""
    for e in enterprises:
        e["authority"] = W.AUTHORITY_CITY if e["category"] == W.KEY else W.AUTHORITY_COUNTY
        e["risk_class"] = ""
        if rng.random() < W.RISK_FILLED:
            e["risk_class"] = rng.choices(W.RISK_CLASSES, W.RISK_WEIGHTS[e["category"]])[0]


def _quarters_before(today: date, n: int) -> list[tuple[int, int]]:
    year, quarter = today.year, (today.month - 1) // 3 + 1
    out = []
    for _ in range(n):
        year, quarter = (year, quarter - 1) if quarter > 1 else (year - 1, 4)
        out.append((year, quarter))
    return out[::-1]


def _history(
    rng: random.Random, enterprises: list[dict], inspectors: list[dict], today: date
) -> list[dict]:
    """Each of the 12 quarters before today's: per category the next ⌈ratio·N⌉ objects of
    a shuffled rotation (so key objects come about once a year, special ones twice,
    general ones about once in three years), on a day of that quarter, two of the
    bureau's officers, a conclusion weighted by category."""
    officers = [
        p["cert"]
        for p in inspectors
        if p["department"] == W.OWN_DEPARTMENT and p["kind"] == W.OFFICER
    ]
    live = [e for e in enterprises if e["status"] != W.CLOSED]
    out = []
    rotation: dict[str, list[dict]] = {c: [] for c in COUNTS}
    for year, quarter in _quarters_before(today, W.HISTORY_QUARTERS):
        first = date(year, 3 * quarter - 2, 1)
        last = date(year + (quarter == 4), 1 if quarter == 4 else 3 * quarter + 1, 1)
        task = f"{W.BUREAU}{year}年第{quarter}季度随机抽查"
        for category in COUNTS:
            pool = [e for e in live if e["category"] == category]
            num, den = W.HISTORY_RATIOS[category]
            seen: set[str] = set()  # once per task, also across a new rotation
            for _ in range(-(-len(pool) * num // den)):
                if not rotation[category]:
                    rotation[category] = rng.sample(pool, len(pool))
                e = rotation[category].pop()
                if e["uscc"] in seen:
                    continue
                seen.add(e["uscc"])
                day = date.fromordinal(rng.randrange(first.toordinal(), last.toordinal()))
                out.append(
                    {
                        "year": year,
                        "quarter": quarter,
                        "uscc": e["uscc"],
                        "inspected_on": day,
                        "task_name": task,
                        "conclusion": rng.choices(W.CONCLUSIONS, W.CONCLUSION_WEIGHTS[category])[0],
                        "inspectors": rng.sample(officers, 2),
                    }
                )
    return out


if __name__ == "__main__":  # python -m bot.demo DIR [xlsx|csv]
    import sys

    for key, file in write_library(
        sys.argv[1] if len(sys.argv) > 1 else "demo",
        fmt=sys.argv[2] if len(sys.argv) > 2 else "xlsx",
    ).items():
        print(key, file)
