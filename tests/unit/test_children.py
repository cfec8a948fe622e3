"""Parsing a batch's objects: workflow-execution and media-job pages, defensively, entry by entry."""

from __future__ import annotations

from datetime import timedelta

import pytest

from jobwatch.ci.children import parse_execution_failure, parse_executions, parse_media_jobs
from jobwatch.errors import CIBadResponseError, UnsafeXMLError

ONE_EXECUTION = b"""<Response><RequestId>r</RequestId><WorkflowExecutionList><RunId>i166ee</RunId>
<WorkflowId>web6a</WorkflowId><Object>wk-test/game.mp4</Object><CreateTime>2022-08-09T14:54:17+08:00</CreateTime>
<State>Success</State><Extra><A>1</A></Extra></WorkflowExecutionList><NextToken>115716</NextToken></Response>"""


def test_single_item_page() -> None:
    """A page with one entry is a page of one (not a dict to special-case), with its next token."""
    page = parse_executions(ONE_EXECUTION)
    (child,) = page.children
    assert (child.child_id, child.object, child.state, child.stream) == (
        "i166ee",
        "wk-test/game.mp4",
        "Success",
        "web6a",
    )
    assert page.next_token == "115716" and page.skipped == 0 and child.extra == {"Extra": {"A": "1"}}


@pytest.mark.parametrize("tag", ["CreateTime", "CreationTime"])
@pytest.mark.parametrize("stamp", ["2022-08-09T14:54:17+08:00", "2022-08-09T14:54:17+0800", "2022-08-09 14:54:17+0800"])
def test_time_element_and_offset_forms(tag: str, stamp: str) -> None:
    """CreateTime or CreationTime, offsets with or without a colon (or a space for T), all read the same."""
    body = f"<Response><WorkflowExecutionList><RunId>i1</RunId><{tag}>{stamp}</{tag}><State>Running</State>" \
           "</WorkflowExecutionList></Response>"  # fmt: skip
    (child,) = parse_executions(body.encode()).children
    assert child.creation_time is not None and child.creation_time.utcoffset() == timedelta(hours=8)
    assert child.creation_time.isoformat() == "2022-08-09T14:54:17+08:00"


def test_entries_without_state_cost_only_themselves() -> None:
    """An entry with no State (or no RunId) is skipped and counted; the rest of the page stands."""
    body = b"""<Response><WorkflowExecutionList><RunId>i1</RunId><State>Success</State></WorkflowExecutionList>
    <WorkflowExecutionList><RunId>i2</RunId></WorkflowExecutionList><WorkflowExecutionList><State>Failed</State>
    </WorkflowExecutionList><WorkflowExecutionList><RunId>i4</RunId><State>Failed</State></WorkflowExecutionList>
    </Response>"""
    page = parse_executions(body)
    assert [c.child_id for c in page.children] == ["i1", "i4"] and page.skipped == 2


def test_media_job_entry() -> None:
    """A media job gives its object, state, failure code and message, times (- for unset) and outputs."""
    body = b"""<Response><JobsDetail><Code>NoSuchKey</Code><Message>the input object does not exist</Message>
    <JobId>j1</JobId><Tag>Transcode</Tag><State>Failed</State><CreationTime>2022-06-27T15:23:10+0800</CreationTime>
    <StartTime>2022-06-27T15:23:11+0800</StartTime><EndTime>-</EndTime><Input><Object>in/a.mp4</Object></Input>
    <Operation><Output><Object>out/a.mp4</Object></Output><MediaResult><OutputFile><ObjectName>out/a.mp4</ObjectName>
    <ObjectName>out/a-2.mp4</ObjectName></OutputFile></MediaResult></Operation></JobsDetail>
    <JobsDetail><Code>Success</Code><JobId>j2</JobId><State>Success</State></JobsDetail></Response>"""
    failed, ok = parse_media_jobs(body).children
    assert (failed.object, failed.state, failed.code, failed.message) == (
        "in/a.mp4",
        "Failed",
        "NoSuchKey",
        "the input object does not exist",
    )
    assert failed.end_time is None and failed.start_time is not None
    assert failed.output == ("out/a.mp4", "out/a-2.mp4") and ok.code == "" and ok.object == "" and ok.output == ()


def test_hostile_and_broken_pages() -> None:
    """A DOCTYPE is refused as unsafe; a truncated page is CI's bad response (retried), never a crash."""
    with pytest.raises(UnsafeXMLError):
        parse_executions(b'<!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]><Response>&x;</Response>')
    with pytest.raises(CIBadResponseError):
        parse_media_jobs(b"<Response><JobsDetail><JobId>j1</Jo")
    with pytest.raises(CIBadResponseError):
        parse_executions(b"<Error><Code>x</Code></Error>")


def test_execution_failure_reason() -> None:
    """The first failed task's code and message say why an execution failed; no tasks gives empty strings."""
    body = b"""<Response><WorkflowExecution><RunId>i1</RunId><State>Failed</State>
    <Tasks><Type>Snapshot</Type><State>Success</State><JobId>j0</JobId></Tasks>
    <Tasks><Type>Transcode</Type><State>Failed</State><JobId>j1</JobId><Code>TranscodeFailed</Code>
    <Message>unsupported codec</Message></Tasks></WorkflowExecution></Response>"""
    assert parse_execution_failure(body) == ("TranscodeFailed", "unsupported codec", "j1")
    assert parse_execution_failure(
        b"<Response><WorkflowExecution><State>Failed</State></WorkflowExecution></Response>"
    ) == ("", "", "")
