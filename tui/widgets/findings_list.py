"""The Overview's Findings section: one option per finding; enter asks for its event.

Options are Rich `Text` made by `tui.overview_text.finding_text` (captured strings through
`visible()`), so no markup from a capture is ever parsed. The list is rebuilt only when
the flow's findings change, not on every live update of the flow.
"""

from __future__ import annotations

from textual.message import Message
from textual.widgets import OptionList
from textual.widgets.option_list import Option

from inspector.findings import Finding
from inspector.flows.model import Flow
from tui.overview_text import finding_text, findings_title


class FindingsList(OptionList):
    """The findings of the shown flow, worst first; hidden when there are none."""

    class Jump(Message):
        """Enter on a finding that points at an event: show event `seq` of `flow`."""

        def __init__(self, flow: Flow, seq: int) -> None:
            super().__init__()
            self.flow = flow
            self.seq = seq

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.flow: Flow | None = None
        self.findings: tuple[Finding, ...] = ()

    def show(self, flow: Flow | None) -> None:
        """Show `flow`'s findings (rebuilt only if they changed)."""
        analysis = flow.analysis if flow is not None else None
        findings: tuple[Finding, ...] = analysis.findings if analysis is not None else ()
        self.border_title = findings_title(flow) if flow is not None else ""
        if flow is self.flow and findings == self.findings:
            return
        self.flow = flow
        self.findings = findings
        self.clear_options()
        self.add_options([Option(finding_text(f)) for f in findings])
        self.display = bool(findings)
        if findings:
            self.highlighted = 0

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        flow = self.flow
        index = event.option_index
        if flow is None or not 0 <= index < len(self.findings):
            return
        seq = self.findings[index].seq
        if seq is None:
            self.notify("This finding is about the flow as a whole, not one event.",
                        timeout=3, markup=False)
            return
        self.post_message(self.Jump(flow, seq))
