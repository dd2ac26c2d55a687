"""The report of `mailgate diff`: per mail what changed and where the paths part, as text, JSON or Markdown."""

from __future__ import annotations

import difflib
import json
from dataclasses import dataclass
from pathlib import Path

from engine.commands.decision_diff import Change, Parting, item_text, step_text
from engine.commands.revision import Revision


@dataclass(frozen=True)
class MailDiff:
    """One sample under both configs: where it went, what changed, where the paths part; or why it could not run."""

    label: str
    mailbox: tuple[str, str]  # (before, after)
    changes: tuple[Change, ...] = ()
    parting: Parting | None = None
    error: tuple[str, str] | None = None  # (before, after) when a side could not evaluate it

    @property
    def changed(self) -> bool:
        return bool(self.changes) or bool(self.error and self.error[0] != self.error[1])


@dataclass(frozen=True)
class Report:
    """Everything one diff run found."""

    revision: Revision
    config: Path
    now: str
    mails: tuple[MailDiff, ...]

    @property
    def changed(self) -> list[MailDiff]:
        return [m for m in self.mails if m.changed]

    @property
    def broken(self) -> list[MailDiff]:
        """Samples neither config can evaluate (the same error both times)."""
        return [m for m in self.mails if m.error and m.error[0] == m.error[1]]

    def heading(self) -> str:
        return (f"{len(self.changed)} of {len(self.mails)} sample mail(s) decided differently than at "
                f"{self.revision.name} ({self.revision.commit[:10]})")


def as_json(report: Report) -> dict:
    """The report as plain data (the --format json object)."""
    return {
        "against": report.revision.name, "commit": report.revision.commit, "config": str(report.config),
        "now": report.now, "mails": len(report.mails), "changed": len(report.changed),
        "results": [{"file": m.label, "mailbox": {"before": m.mailbox[0], "after": m.mailbox[1]}, "changed": m.changed,
                     "changes": [{"field": c.field, "before": c.before, "after": c.after} for c in m.changes],
                     "parting": m.parting and {"index": m.parting.index, "before": m.parting.before,
                                               "after": m.parting.after},
                     "error": m.error and {"before": m.error[0], "after": m.error[1]}}
                    for m in report.mails],
    }


def _json(report: Report) -> str:
    return json.dumps(as_json(report), indent=2, ensure_ascii=False, default=list)


def _text(report: Report) -> str:
    lines = [f"comparing {report.config} with its config at {report.revision.name} ({report.revision.commit[:10]}); "
             f"now {report.now}", ""]
    for mail in report.changed + report.broken:
        lines.append(f"== {mail.label}  (mailbox {_pair(mail.mailbox)})")
        if mail.error:
            lines += [f"   cannot evaluate before: {mail.error[0] or '-'}", f"   cannot evaluate after:  {mail.error[1] or '-'}"]
        for change in mail.changes:
            lines += _change_lines(change)
        if mail.parting:
            lines += [f"   the paths part at trace step {mail.parting.index + 1}:",
                      f"     before  {step_text(mail.parting.before)}", f"     after   {step_text(mail.parting.after)}"]
        lines.append("")
    lines.append(report.heading() if report.changed else
                 f"no change: all {len(report.mails)} sample mail(s) are decided as at {report.revision.name}")
    return "\n".join(lines)


def _pair(pair: tuple[str, str]) -> str:
    return pair[0] if pair[0] == pair[1] else f"{pair[0] or '?'} -> {pair[1] or '?'}"


def _change_lines(change: Change) -> list[str]:
    """One line per field; a changed text of several lines as a short unified diff."""
    before, after = change.before, change.after
    if isinstance(before, str) and isinstance(after, str) and ("\n" in before or "\n" in after):
        body = difflib.unified_diff(before.splitlines(), after.splitlines(), "before", "after", n=1, lineterm="")
        return [f"   {change.field}:"] + [f"       {line}" for line in list(body)[2:]]
    return [f"   {change.field}: {item_text(before)} -> {item_text(after)}"]


def _markdown(report: Report) -> str:
    """A pull-request comment: a heading, then one collapsible section per changed mail."""
    if not report.changed:
        return (f"### mailgate diff: no change\n\nAll {len(report.mails)} sample mails are decided as at "
                f"`{report.revision.name}` (`{report.revision.commit[:10]}`).\n")
    lines = [f"### mailgate diff: {report.heading()}", ""]
    for mail in report.changed:
        summary = ", ".join(c.field for c in mail.changes[:4]) + (" …" if len(mail.changes) > 4 else "")
        lines += ["<details>", f"<summary><code>{_cell(mail.label)}</code>: {_cell(summary or 'cannot be evaluated')}</summary>",
                  "", f"Mailbox: {_cell(_pair(mail.mailbox))}", "", "| field | before | after |", "|---|---|---|"]
        lines += [f"| `{c.field}` | {_cell(item_text(c.before))} | {_cell(item_text(c.after))} |" for c in mail.changes]
        if mail.error:
            lines.append(f"| (evaluation) | {_cell(mail.error[0] or 'ok')} | {_cell(mail.error[1] or 'ok')} |")
        if mail.parting:
            lines += ["", f"The paths part at trace step {mail.parting.index + 1}:", "",
                      f"- before: `{_cell(step_text(mail.parting.before))}`",
                      f"- after: `{_cell(step_text(mail.parting.after))}`"]
        lines += ["", "</details>"]
    return "\n".join(lines) + "\n"


def _cell(text: str) -> str:
    """Text safe inside a Markdown table cell or HTML summary."""
    return (str(text).replace("|", "\\|").replace("\n", " ").replace("<", "&lt;").replace(">", "&gt;")
            .replace("`", "'"))


FORMATS = {"text": _text, "json": _json, "markdown": _markdown}
