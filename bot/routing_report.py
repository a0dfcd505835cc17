"""`route test` answers: where an alert goes, and who wakes up (CLI and /oncall route test).

For each matched route: team, channel, action and why (as `amtool config routes test`),
then what would happen at `at`: the escalation policy (severity policies applied), who is
on call at each level, `page_after`, digest or triage, the silences and maintenance that
would hold it, and the runbook offered. Silences, maintenance and overrides come from the
database (`HoldState`, read once); without one, holds are reported as not checked.
The per-team part is cached per run, and `--from` (`answer_lines`) remembers each match's
encoded answer by the labels that decide it, so it answers tens of thousands of label sets
a second, byte for byte what `json.dumps(describe(...))` prints (bench/route_test.py).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, datetime
from json.encoder import encode_basestring_ascii as _encode_str  # what json.dumps uses
from typing import TYPE_CHECKING, Any

from bot.config import OncallConfig
from bot.domain.alert_path import decide
from bot.domain.alerts import Action
from bot.domain.confidence import read_score
from bot.domain.context_rules import holding
from bot.domain.durations import format_duration
from bot.domain.escalation import Level, policy_for, resolve_targets
from bot.domain.routing import CompiledRoute, compile_route, explain
from bot.domain.runbook_walk import runbook_for
from bot.domain.runbooks import Runbook
from bot.domain.schedules import OnCall, who_is_on_call
from bot.services.context_snapshot import Snapshot, tier_of, where_of

if TYPE_CHECKING:  # only a type here: importing it loads the database stack (slow CLI start)
    from bot.services.route_holds import HoldState

NO_DATABASE = "no database: holds not checked"
_MEMO_MAX = 4096  # answers remembered per run (label values repeat); then start over


def parse_label_args(args: list[str]) -> dict[str, str]:
    labels = {}
    for arg in args:
        name, sep, value = arg.partition("=")
        if not sep or not name:
            raise ValueError(f"{arg!r}: expected LABEL=VALUE, e.g. alert_type=model")
        labels[name] = value.strip('"')
    return labels


def parse_at(text: str) -> datetime:
    """`2026-12-24 03:00` (UTC) or an ISO time with an offset."""
    try:
        parsed = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(f"{text!r}: expected a time like '2026-12-24 03:00' (UTC)") from None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


class RouteReporter:
    """Answers label sets for one config at one moment; caches what depends on the team only."""

    def __init__(self, config: OncallConfig, at: datetime, holds: HoldState | None = None,
                 runbooks: Sequence[Runbook] = (), facts: Snapshot | None = None):
        self.config, self.at, self.holds, self.runbooks = config, at, holds, runbooks
        self.facts = facts or Snapshot(now=at)  # without a database: time and tiers only
        self._tree = compile_route(config.route)
        self._at = at.isoformat()
        self._paging: dict[tuple[str, str], dict[str, Any]] = {}
        self._paging_text: dict[tuple[str, str], str] = {}
        self._answers: dict[tuple[str | None, ...], tuple[str, ...]] = {}
        self._runbooks_json: dict[tuple[str | None, ...], str] = {}
        self._head = (f'{{"at": "{self._at}", "holds_checked": '
                      f'{json.dumps(holds is not None)}, "matches": [')

    def describe(self, labels: dict[str, str]) -> dict[str, Any]:
        """{"at", "holds_checked", "matches": [...]}, matches in Alertmanager's order."""
        return {"at": self._at, "holds_checked": self.holds is not None,
                "matches": [self._match(node, labels) for node in self._tree.match(labels)]}

    def describe_json(self, labels: dict[str, str]) -> str:
        """`json.dumps(describe(labels))`, byte for byte, from pieces encoded once per run.

        A match's answer, but for its runbook and holds, depends only on the node and the
        labels `explain` reads (`node.explain_labels`): it is encoded once per such key, by
        json's own C string encoder (the one `json.dumps` uses), and spliced thereafter.
        """
        matches = []
        for node in self._tree.match(labels):
            key = (node.key, *map(labels.get, node.explain_labels))
            known = self._answers.get(key)
            if known is None:
                known = self._answer_parts(node, labels)
                if len(self._answers) >= _MEMO_MAX:
                    self._answers.clear()
                self._answers[key] = known
            team, head, runbook, paging = known
            if self.runbooks:
                runbook = self._runbook_json(node, labels)
            holds = "null" if self.holds is None else _json_list(self._holds(team, labels))
            matches.append(f'{head}, "runbook": {runbook}, "holds": {holds}, {paging}')
        return self._head + ", ".join(matches) + "]}"

    def _answer_parts(self, node: CompiledRoute, labels: dict[str, str]) -> tuple[str, ...]:
        """(team, the answer up to the runbook, the route's runbook, the paging members)."""
        team, action, reasons = explain(node, labels, self.config.tool_owners)
        settings = node.settings
        head = (f'{{"team": {_json_str(team)}, '
                f'"channel": {_json_str(self.config.channel_of(team))}, '
                f'"action": {_json_str(action.value)}, '
                f'"route_path": {_json_list(list(node.path))}, '
                f'"reasons": {_json_list(reasons)}, '
                f'"page_after": {_json_str(_duration(settings.page_after))}, '
                f'"digest": {_json_str(settings.digest)}')
        paging = self._paging_json(team, labels.get("severity", ""))[1:]
        return team, head, _json_str(settings.runbook), paging

    def _runbook_json(self, node: CompiledRoute, labels: dict[str, str]) -> str:
        """The offered runbook's id, encoded; remembered by what `runbook_for` reads (the
        route's runbook and the `runbook`, `alertname` and `alert_type` labels)."""
        route_runbook = node.settings.runbook
        key = (route_runbook, labels.get("runbook"), labels.get("alertname"),
               labels.get("alert_type"))
        found = self._runbooks_json.get(key)
        if found is None:
            runbook = runbook_for(self.runbooks, labels, route_runbook)
            found = _json_str(runbook.id if runbook else route_runbook)
            if len(self._runbooks_json) >= _MEMO_MAX:
                self._runbooks_json.clear()
            self._runbooks_json[key] = found
        return found

    def _match(self, node: CompiledRoute, labels: dict[str, str]) -> dict[str, Any]:
        own = self._own(node, labels)
        return {**own, **self.paging(own["team"], labels.get("severity", ""))}

    def _own(self, node: CompiledRoute, labels: dict[str, str]) -> dict[str, Any]:
        """What depends on the matched node and the labels (not on the team's policy)."""
        team, action, reasons = explain(node, labels, self.config.tool_owners)
        settings = node.settings
        runbook = runbook_for(self.runbooks, labels, settings.runbook) if self.runbooks else None
        own = {
            "team": team, "channel": self.config.channel_of(team),
            "action": action.value, "route_path": list(node.path), "reasons": reasons,
            "page_after": _duration(settings.page_after),
            "digest": settings.digest,
            "runbook": runbook.id if runbook else settings.runbook,
            "holds": self._holds(team, labels),
        }
        found = {**own, **self._context(team, action, labels)}
        confidence = self._confidence(node, team, action, labels)
        return {**found, "confidence": confidence} if confidence else found

    def _confidence(self, node: CompiledRoute, team: str, action: Action,
                    labels: dict[str, str]) -> dict[str, Any] | None:
        """The confidence step, only when the labels carry a score (otherwise the answer stays
        what it was before scores existed)."""
        config = self.config.confidence
        if config.key not in labels:
            return None
        spec, set_by = node.settings.confidence, node.settings.confidence_origin
        team_spec = self.config.teams[team].confidence if team in self.config.teams else None
        if spec is None and team_spec is not None:
            spec, set_by = team_spec, f"team {team}"
        reading = read_score(labels, {}, config.key, self.config.sources)
        decision = decide(action, reading.score, spec.thresholds(set_by) if spec else None)
        why = ([str(reading.problem)] if reading.problem else []) + list(decision.why)
        if spec is None:
            why.append(f"no confidence thresholds on this route or team {team}: "
                       f"action {action.value} stands")
        return {"score": reading.score.value if reading.score else None,
                "action": decision.action.value, "why": why}

    def _context(self, team: str, action, labels: dict[str, str]) -> dict[str, Any]:
        """What context rules and the tier make of the route's action at `at`; nothing (and
        the answer unchanged) when no rule holds and no tier applies."""
        if not (self.config.context or self.config.tiers):
            return {}
        where = where_of(self.config, team)
        adjustments = holding(self.config.context, labels, self.at, where,
                              self.facts.facts(self.config, labels, team))
        tier = tier_of(self.config, labels, team, self.at)
        if tier is not None and tier.adjustment is not None:
            adjustments.append(tier.adjustment)
        if not adjustments and tier is None:
            return {}
        path = decide(action, None, None, adjustments)
        why = list(path.why) + [f"{a.why} ({a.rule})" for a in adjustments
                                if a.hold_for and not a.demote_to and not a.promote_to]
        if tier is not None and not any(tier.why in line for line in why):
            why.append(tier.why)
        return {"action": path.action.value, "route_action": action.value,
                "tier": tier.name if tier else None, "context": why,
                "page_later_at": path.page_later_at.isoformat() if path.page_later_at
                and action is Action.PAGE else None,
                "hold_for": _duration(path.hold_for)}

    def _paging_json(self, team: str, severity: str) -> str:
        key = (team, severity)
        if key not in self._paging_text:
            self._paging_text[key] = json.dumps(self.paging(team, severity))
        return self._paging_text[key]

    def paging(self, team: str, severity: str) -> dict[str, Any]:
        """The policy that would run for this team and severity, and who each level reaches."""
        key = (team, severity)
        if key not in self._paging:
            self._paging[key] = self._compute_paging(team, severity)
        return self._paging[key]

    def _compute_paging(self, team: str, severity: str) -> dict[str, Any]:
        spec = self.config.teams.get(team)
        name = policy_for(severity, spec.escalation_policy if spec else None,
                          self.config.severity_policies)
        policy = self.config.escalation_policies.get(name) if name else None
        if policy is None:
            return {"policy": None, "policy_reason": f"team {team} has no escalation policy: "
                    "nobody is paged", "levels": []}
        on_call = self._on_call(team)
        levels = []
        for number, level in enumerate(policy.levels, 1):
            targets = resolve_targets(Level(notify=level.notify), on_call, {})
            levels.append({
                "level": number, "after": format_duration(level.after),
                "notify": [str(target) for target in level.notify],
                "people": targets.people, "usergroups": targets.usergroups,
                "channels": targets.channels, "pagers": targets.pagers,
                "nobody": targets.empty})
        return {"policy": name, "policy_reason": _policy_reason(self.config, team, severity,
                                                                name), "levels": levels}

    def _on_call(self, team: str) -> OnCall | None:
        spec = self.config.teams.get(team)
        if spec is None or not spec.schedule:
            return OnCall(primary=None, secondary=None, shift_start=self.at,
                          shift_end=self.at, next_handoff=self.at, overridden=False)
        overrides = self.holds.overrides.get(spec.schedule, []) if self.holds else []
        return who_is_on_call(self.config.schedules[spec.schedule], self.at, overrides)

    def _holds(self, team: str, labels: dict[str, str]) -> list[str] | None:
        if self.holds is None:
            return None
        found = [f"silence {s.id} until {s.ends_at:%Y-%m-%d %H:%M} UTC"
                 + (f" ({s.comment})" if s.comment else "")
                 for s in self.holds.silences if s.holds(labels, team)]
        window = self.holds.maintenance.get(team)
        if window is not None:
            found.append(f"team {team} in maintenance until {window.ends_at:%Y-%m-%d %H:%M} UTC"
                         + (f" ({window.comment})" if window.comment else ""))
        return found


def _policy_reason(config: OncallConfig, team: str, severity: str, name: str) -> str:
    wanted = severity.strip().lower()
    if any(label.strip().lower() == wanted for label in config.severity_policies):
        return f"policy {name}: severity_policies for severity={severity}"
    return f"policy {name}: escalation_policy of team {team}"


def _duration(value: Any) -> str | None:
    return None if value is None else format_duration(value)


def _json_str(value: str | None) -> str:
    """`json.dumps` of a string or None (the same C encoder, without the call overhead)."""
    return "null" if value is None else _encode_str(value)


def _json_list(values: list[str]) -> str:
    return "[" + ", ".join(map(_encode_str, values)) + "]"


def describe(config: OncallConfig, labels: dict[str, str], at: datetime | None = None,
             holds: HoldState | None = None, runbooks: Sequence[Runbook] = ()) -> dict:
    """One label set's answer (see RouteReporter.describe)."""
    moment = at or (holds.at if holds else datetime.now(UTC))  # wall clock ok: CLI's "now"
    return RouteReporter(config, moment, holds, runbooks).describe(labels)


def answer_lines(reporter: RouteReporter, lines: Iterable[str]) -> Iterator[str]:
    """One JSON answer per JSON line of labels; a bad line gets an error answer, in order."""
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            labels = json.loads(line)
            if type(labels) is not dict or not all(type(v) is str for v in labels.values()):
                raise ValueError("expected a JSON object of string labels")
        except ValueError as exc:
            yield json.dumps({"line": number, "error": str(exc)})
            continue
        yield reporter.describe_json(labels)


def render_text(report: dict[str, Any]) -> str:
    """The answer as a person reads it in a terminal."""
    lines = [f"at {report['at']}"]
    for i, match in enumerate(report["matches"], 1):
        lines.append(f"{i}. team {match['team']}  channel {match['channel']}  "
                     f"action {match['action']}")
        lines.append(f"   route: {' > '.join(match['route_path'])}")
        lines.extend(f"   - {reason}" for reason in match["reasons"])
        if match.get("confidence"):
            lines.append(f"   confidence -> {match['confidence']['action']}")
            lines.extend(f"   - {part}" for part in match["confidence"]["why"])
        if "context" in match:
            lines.append(f"   context at {report['at']}: route action {match['route_action']}"
                         f" -> {match['action']}" + (f" (tier {match['tier']})"
                                                      if match["tier"] else ""))
            lines.extend(f"   - {why}" for why in match["context"])
        lines.extend(f"   {line}" for line in who_wakes_up(match))
    return "\n".join(lines)


def who_wakes_up(match: dict[str, Any]) -> list[str]:
    """Policy, levels and people, page_after, digest, runbook and holds, one line each."""
    lines = [match["policy_reason"]]
    if match["action"] != "page":
        lines[0] += f" (runs only if it pages; action {match['action']})"
    for level in match["levels"]:
        reached = level["people"] + level["usergroups"] + level["channels"] + [
            f"pager:{p}" for p in level["pagers"]]
        who = ", ".join(reached) if reached else "nobody (schedule gap: skipped)"
        lines.append(f"  level {level['level']} after {level['after']}: "
                     f"{', '.join(level['notify'])} -> {who}")
    if match["page_after"]:
        lines.append(f"page_after {match['page_after']}: paged only if still firing then")
    if match["digest"]:
        lines.append(f"digest {match['digest']}: batched into the digest")
    if match["runbook"]:
        lines.append(f"runbook offered: {match['runbook']}")
    lines.append(f"holds: {_holds_text(match['holds'])}")
    return lines


def _holds_text(holds: list[str] | None) -> str:
    if holds is None:
        return NO_DATABASE
    return "; ".join(holds) if holds else "none"
