"""Exercises a repetition counter follows: one joint angle, a rest and an active threshold, a side rule.

A rep is rest -> active -> rest. When `active` < `rest` the joint bends during the rep (squat: knee
from >= 150 down to <= 100 and back); when `active` > `rest` it opens (jumping jack: shoulder from
<= 40 up to >= 110 and back). The band between the two thresholds is the hysteresis: jitter around
one threshold cannot start or end a rep. A rep shorter than `min_duration` seconds is not counted.

User exercises are YAML (.yaml/.yml) or TOML (.toml) files with the same fields:

    name: wall sit press       # optional, default the file name
    angle: elbow               # knee, hip, elbow, shoulder, ankle, shank or trunk
    rest: 160                  # degrees, [0, 180]
    active: 70
    side: auto                 # auto | left | right | both (default auto)
    min_duration: 0.4          # seconds (default 0.5)
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from transpose_live.analytics.angles import JOINTS
from transpose_live.errors import UserError

SIDES = ("auto", "left", "right", "both")
FIELDS = ("name", "angle", "rest", "active", "side", "min_duration")


@dataclass(frozen=True)
class Exercise:
    name: str
    angle: str
    rest: float
    active: float
    side: str = "auto"
    min_duration: float = 0.5

    @property
    def bends(self) -> bool:
        """True when the angle falls during a rep (active below rest)."""
        return self.active < self.rest

    def at_rest(self, angle: float) -> bool:
        return angle >= self.rest if self.bends else angle <= self.rest

    def is_active(self, angle: float) -> bool:
        return angle <= self.active if self.bends else angle >= self.active


BUILTIN = {
    e.name: e for e in (
        Exercise("squat", "knee", rest=150, active=100),
        Exercise("push-up", "elbow", rest=150, active=100),
        Exercise("lunge", "knee", rest=150, active=110),
        Exercise("jumping-jack", "shoulder", rest=40, active=110, min_duration=0.3),
        Exercise("biceps-curl", "elbow", rest=140, active=60),
    )
}


def exercise_names() -> list[str]:
    return sorted(BUILTIN)


def load_exercise(spec: str, side: str | None = None) -> Exercise:
    """A built-in exercise by name (`squat`, `push-up`, ...; '_' or ' ' also accepted) or a YAML / TOML
    file; `side` (when given) overrides the exercise's own side."""
    key = spec.strip().lower().replace("_", "-").replace(" ", "-")
    if key in BUILTIN:
        ex = BUILTIN[key]
    elif Path(spec).suffix.lower() in (".yaml", ".yml", ".toml"):
        ex = exercise_from_dict(_read_file(Path(spec)), f"exercise file {spec}", default_name=Path(spec).stem)
    else:
        raise UserError(f"unknown exercise {spec!r}; choose one of {', '.join(exercise_names())} "
                        "or give a .yaml / .toml file")
    if side is not None:
        _check_side(side, "--side")
        ex = Exercise(ex.name, ex.angle, ex.rest, ex.active, side, ex.min_duration)
    return ex


def _read_file(path: Path) -> dict:
    if not path.is_file():
        raise UserError(f"exercise file {path} does not exist")
    text = path.read_text(encoding="utf-8")
    try:
        if path.suffix.lower() == ".toml":
            import tomllib

            data = tomllib.loads(text)
        else:
            import yaml

            data = yaml.safe_load(text)
    except Exception as exc:  # yaml / toml syntax errors: one line
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UserError(f"exercise file {path}: cannot parse it ({first})") from None
    if not isinstance(data, dict):
        raise UserError(f"exercise file {path}: expected key: value pairs ({', '.join(FIELDS)})")
    return data


def _check_side(side, where: str) -> None:
    if side not in SIDES:
        raise UserError(f"{where}: side must be one of {', '.join(SIDES)}, not {side!r}")


def _degrees(data: dict, key: str, where: str) -> float:
    value = data.get(key)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise UserError(f"{where}: {key!r} must be a number of degrees, got {value!r}")
    if not 0 <= value <= 180:
        raise UserError(f"{where}: {key!r} = {value} is outside [0, 180] degrees")
    return float(value)


def exercise_from_dict(data: dict, where: str, default_name: str = "custom") -> Exercise:
    """An `Exercise` from parsed YAML / TOML, every mistake a one-line UserError."""
    unknown = sorted(set(map(str, data)) - set(FIELDS))
    if unknown:
        raise UserError(f"{where}: unknown key {unknown[0]!r}; known keys: {', '.join(FIELDS)}")
    for key in ("angle", "rest", "active"):
        if key not in data:
            raise UserError(f"{where}: {key!r} is missing")
    angle = str(data["angle"]).strip().lower()
    if angle not in JOINTS:
        raise UserError(f"{where}: angle {data['angle']!r} is not one of {', '.join(JOINTS)}")
    rest, active = _degrees(data, "rest", where), _degrees(data, "active", where)
    if abs(rest - active) < 5:
        raise UserError(f"{where}: rest ({rest:g}) and active ({active:g}) must differ by at least 5 degrees "
                        "(the band between them is the hysteresis)")
    side = data.get("side", "auto")
    _check_side(side, where)
    min_duration = data.get("min_duration", 0.5)
    if isinstance(min_duration, bool) or not isinstance(min_duration, (int, float)) or min_duration < 0:
        raise UserError(f"{where}: 'min_duration' must be a number of seconds >= 0, got {min_duration!r}")
    name = str(data.get("name", default_name)).strip() or default_name
    return Exercise(name, angle, rest, active, side, float(min_duration))
