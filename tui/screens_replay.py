"""Modal screens for replay and export: the diff of a replay, the request editor, the
export form, and the help screen with their keys. Captured text arrives here already
made visible (`inspector.text.visible`) and is drawn as `rich.text.Text` only."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import (
    Button,
    Checkbox,
    Input,
    Label,
    RadioButton,
    RadioSet,
    Static,
    TextArea,
)

from inspector.replay.edit import is_json, json_error, parse_headers
from inspector.replay.plan import Comparison
from inspector.text import visible
from tui.widgets.safe_input import SafeInput

# -- d: the diff ---------------------------------------------------------------------------


def comparison_text(label: str, comparison: Comparison) -> Text:
    """Summary lines, then the body diff with + / - lines coloured; all escape-safe."""
    text = Text()
    text.append(f"Replay of {visible(label)}: ", style="bold")
    text.append("same\n" if comparison.same else "differs\n",
                style="green" if comparison.same else "bold red")
    for line in comparison.differences:
        text.append("  • " + visible(line) + "\n")
    if comparison.body_diff:
        text.append("\nBody\n", style="bold underline")
        for line in comparison.body_diff.split("\n"):
            shown = visible(line)
            if line.startswith(("+++", "---")):
                style = "bold"
            elif line.startswith("+"):
                style = "green"
            elif line.startswith("-"):
                style = "red"
            elif line.startswith("@@"):
                style = "cyan"
            else:
                style = ""
            text.append(shown + "\n", style=style)
    return text


class DiffScreen(ModalScreen[None]):
    """How a replay differs from its original."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape,q,d", "close", "Close")]

    def __init__(self, label: str, comparison: Comparison) -> None:
        super().__init__()
        self.label = label
        self.comparison = comparison

    def compose(self) -> ComposeResult:
        with Vertical(id="diff-box"):
            with VerticalScroll():
                yield Static(comparison_text(self.label, self.comparison), id="diff-text")
            yield Label("Esc closes", id="diff-footer")

    def action_close(self) -> None:
        self.dismiss(None)


# -- e: the request editor -------------------------------------------------------------------


@dataclass(frozen=True)
class EditRequest:
    """What the user asked to send."""

    method: str
    target: str
    headers: str
    body: str


class EditScreen(ModalScreen["EditRequest | None"]):
    """Method, path+query, headers and body of a request; Send replays it."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel"),
                                             Binding("ctrl+s", "send", "Send")]

    def __init__(self, *, label: str, method: str, target: str, headers: str, body: str,
                 json_body: bool) -> None:
        super().__init__()
        self.label = label
        self.values = (method, target, headers, body)
        self.json_body = json_body

    def compose(self) -> ComposeResult:
        method, target, headers, body = self.values
        with Vertical(id="edit-box"):
            yield Label(Text(f"Edit and send {visible(self.label)}"), id="edit-title")
            with Horizontal(id="edit-line"):
                yield SafeInput(method, id="edit-method")
                yield SafeInput(target, id="edit-target")
            yield Label("Headers (name: value)", classes="edit-label")
            yield TextArea(headers, id="edit-headers")
            yield Label("Body", classes="edit-label")
            yield TextArea(body, id="edit-body")
            yield Static("", id="edit-error")
            with Horizontal(id="edit-buttons"):
                yield Button("Send", id="edit-send", variant="primary")
                yield Button("Cancel", id="edit-cancel")

    def on_mount(self) -> None:
        self.query_one("#edit-target", Input).focus()
        self.validate()

    def problem(self) -> str | None:
        """Why the request cannot be sent as it stands, or None."""
        try:
            headers = parse_headers(self.query_one("#edit-headers", TextArea).text)
        except ValueError as exc:
            return f"Headers: {exc}"
        if self.json_body or is_json(headers):
            error = json_error(self.query_one("#edit-body", TextArea).text)
            if error:
                return f"JSON body: {error}"
        return None

    def validate(self) -> None:
        """Show the problem, if any, and allow Send only without one."""
        problem = self.problem()
        error = self.query_one("#edit-error", Static)
        error.update(Text(visible(problem or ""), style="bold red"))
        error.set_class(problem is not None, "shown")
        self.query_one("#edit-send", Button).disabled = problem is not None

    @on(TextArea.Changed)
    def _changed(self) -> None:
        self.validate()

    @on(Button.Pressed, "#edit-send")
    def action_send(self) -> None:
        if self.problem() is not None:
            self.validate()
            return
        self.dismiss(EditRequest(self.query_one("#edit-method", Input).value,
                                 self.query_one("#edit-target", Input).value,
                                 self.query_one("#edit-headers", TextArea).text,
                                 self.query_one("#edit-body", TextArea).text))

    @on(Button.Pressed, "#edit-cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)


# -- x: export --------------------------------------------------------------------------------


@dataclass(frozen=True)
class ExportRequest:
    """What to export, how, and where."""

    scope: str               # "selected" or "filter"
    fmt: str                 # "har", "curl" or "jsonl"
    path: str
    include_secrets: bool


FORMATS = ("har", "curl", "jsonl")


class ExportScreen(ModalScreen["ExportRequest | None"]):
    """Scope, format, path and the secrets switch; Enter or Export writes."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, *, has_selected: bool, filtered: int,
                 default_path: Callable[[str], str]) -> None:
        super().__init__()
        self.has_selected = has_selected
        self.filtered = filtered
        self.default_path = default_path
        self.fmt = "har"
        self._default = default_path(self.fmt)

    def compose(self) -> ComposeResult:
        by_filter = self.filtered > 0 and not self.has_selected
        with Vertical(id="export-box"):
            yield Label("Export flows", id="export-title")
            with RadioSet(id="export-scope"):
                yield RadioButton("the selected flow", value=not by_filter,
                                  disabled=not self.has_selected, id="scope-selected")
                yield RadioButton(f"the {self.filtered} flows matching the filter",
                                  value=by_filter, disabled=not self.filtered,
                                  id="scope-filter")
            with RadioSet(id="export-format"):
                for fmt in FORMATS:
                    yield RadioButton(fmt, value=fmt == self.fmt, id=f"format-{fmt}")
            yield SafeInput(self._default, id="export-path")
            yield Checkbox("include secrets (Authorization, cookies, tokens)",
                           id="export-secrets")
            with Horizontal(id="export-buttons"):
                yield Button("Export", id="export-go", variant="primary")
                yield Button("Cancel", id="export-cancel")

    def on_mount(self) -> None:
        self.query_one("#export-path", Input).focus()

    @on(RadioSet.Changed, "#export-format")
    def _format(self, event: RadioSet.Changed) -> None:
        self.fmt = FORMATS[event.index]
        path = self.query_one("#export-path", Input)
        if path.value == self._default:        # not typed over: follow the format
            self._default = path.value = self.default_path(self.fmt)

    def request(self) -> ExportRequest:
        """The form as it stands."""
        scope = "filter" if self.query_one("#scope-filter", RadioButton).value else "selected"
        return ExportRequest(scope, self.fmt, self.query_one("#export-path", Input).value.strip(),
                             self.query_one("#export-secrets", Checkbox).value)

    @on(Input.Submitted, "#export-path")
    @on(Button.Pressed, "#export-go")
    def action_export(self) -> None:
        request = self.request()
        if request.path:
            self.dismiss(request)

    @on(Button.Pressed, "#export-cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)
