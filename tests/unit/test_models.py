"""The job model: both JobsDetail shapes, CI times, unknown elements and whole responses."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from jobwatch.ci import xmldoc
from jobwatch.ci.models import Job, format_ci_time, is_valid_job_id, parse_ci_time, parse_response
from jobwatch.errors import CIBadResponseError, TransientError, UnsafeXMLError

CST = timezone(timedelta(hours=8))

WORKFLOW = b"""<Response>
  <RequestId>NjJiZDU1ZmZfOTBmYTUwNjRfNzdjY18xYQ==</RequestId>
  <JobsDetail>
    <Code>Success</Code><Message/><Type>Workflow</Type><Name>demo</Name>
    <JobId>b3deffea2f84911ec9cb15254008618d9</JobId><State>Running</State>
    <CreationTime>2022-06-27T15:23:10+0800</CreationTime><StartTime>-</StartTime><EndTime>-</EndTime>
    <Input><Prefix>input</Prefix></Input>
    <Operation>
      <TimeInterval><Start>2022-02-01T12:00:00+0800</Start><End>2022-05-01T12:00:00+0800</End></TimeInterval>
      <WorkflowIds>w7476ff3564ee45b7b490d64bccaba6cc</WorkflowIds>
    </Operation>
  </JobsDetail>
</Response>"""

JOB = b"""<Response><RequestId>r2</RequestId>
<JobsDetail>
  <Code>Success</Code><Message/><Type>Job</Type><Name>demo</Name>
  <JobId>be8f65004eb8511eaaed4f377124a303c</JobId><State>Running</State>
  <CreationTime>2022-06-27T15:23:10+0800</CreationTime><StartTime>2022-06-27T15:23:11+0800</StartTime><EndTime/>
  <Input><Prefix>input</Prefix></Input>
  <Operation>
    <QueueId>p893bcda225bf4945a378da6662e81a89</QueueId><UserData>u</UserData>
    <CallBack>https://www.callback.com</CallBack><Tag>Transcode</Tag>
    <JobParam><TemplateId>t1460606b9752148c4ab182f55163ba7cd</TemplateId></JobParam>
    <Output><Region>ap-chongqing</Region><Bucket>test-1234567890</Bucket><Object>out.mp4</Object></Output>
    <JobLevel>0</JobLevel>
  </Operation>
  <Progress>40</Progress><Tag>Transcode</Tag>
</JobsDetail>
<NextToken>25</NextToken>
</Response>"""


class TestTimes:
    @pytest.mark.parametrize(
        ("text", "expected"),
        [
            ("2022-06-27T15:23:10+0800", datetime(2022, 6, 27, 15, 23, 10, tzinfo=CST)),
            ("2022-08-09 14:54:17+0800", datetime(2022, 8, 9, 14, 54, 17, tzinfo=CST)),
            ("2022-06-27T07:23:10+0000", datetime(2022, 6, 27, 7, 23, 10, tzinfo=timezone.utc)),
            ("2022-06-27T15:23:10+08:00", datetime(2022, 6, 27, 15, 23, 10, tzinfo=CST)),
            ("2022-06-27T15:23:10.250+0800", datetime(2022, 6, 27, 15, 23, 10, 250000, tzinfo=CST)),
            ("2022-06-27T07:23:10.5Z", datetime(2022, 6, 27, 7, 23, 10, 500000, tzinfo=timezone.utc)),
            ("2022-06-27T15:23:10", datetime(2022, 6, 27, 15, 23, 10, tzinfo=CST)),
            ("2022-06-27 15:23:10.123456789", datetime(2022, 6, 27, 15, 23, 10, 123456, tzinfo=CST)),
        ],
    )
    def test_parses_ci_forms(self, text: str, expected: datetime) -> None:
        """The T and space forms, milliseconds, Z, and no offset (CI's own zone, +08:00) parse to aware datetimes."""
        value = parse_ci_time(text)
        assert value == expected
        assert value is not None and value.utcoffset() == expected.utcoffset()

    @pytest.mark.parametrize("text", ["-", "", "  ", None, "yesterday", "2022-13-27T15:23:10", "2022-06-27T15:23"])
    def test_unset_or_unreadable_is_none(self, text: str | None) -> None:
        """``-``, empty, garbage and impossible times become None."""
        assert parse_ci_time(text) is None

    def test_format_round_trip(self) -> None:
        """format_ci_time writes whole seconds and an offset without a colon."""
        value = datetime(2022, 6, 27, 15, 23, 10, 999, tzinfo=CST)
        assert format_ci_time(value) == "2022-06-27T15:23:10+0800"
        assert parse_ci_time(format_ci_time(value)) == value.replace(microsecond=0)

    @given(
        st.datetimes(min_value=datetime(1000, 1, 1), max_value=datetime(9998, 12, 31)),
        st.integers(min_value=-23 * 60 - 59, max_value=23 * 60 + 59),
    )
    def test_format_matches_strftime(self, moment: datetime, minutes: int) -> None:
        """format_ci_time writes what strftime's %Y-%m-%dT%H:%M:%S%z would, for any offset."""
        value = moment.replace(tzinfo=timezone(timedelta(minutes=minutes)))
        assert format_ci_time(value) == value.strftime("%Y-%m-%dT%H:%M:%S%z")

    def test_naive_time_refused(self) -> None:
        """A naive datetime cannot be sent to CI."""
        with pytest.raises(ValueError, match="aware"):
            format_ci_time(datetime(2022, 1, 1))


class TestJob:
    def test_workflow_shape(self) -> None:
        """A Workflow JobsDetail maps to typed fields; ``-`` times are None."""
        jobs, missing, token, request_id = parse_response(WORKFLOW)
        (job,) = jobs
        assert (job.job_id, job.type, job.state, job.name) == (
            "b3deffea2f84911ec9cb15254008618d9",
            "Workflow",
            "Running",
            "demo",
        )
        assert job.creation_time == datetime(2022, 6, 27, 15, 23, 10, tzinfo=CST)
        assert job.start_time is None and job.end_time is None
        assert job.operation["WorkflowIds"] == "w7476ff3564ee45b7b490d64bccaba6cc"
        assert job.operation["TimeInterval"]["Start"] == "2022-02-01T12:00:00+0800"
        assert (missing, token, request_id) == ((), "", "NjJiZDU1ZmZfOTBmYTUwNjRfNzdjY18xYQ==")
        assert not job.terminal

    def test_job_shape_keeps_unknown_elements(self) -> None:
        """A Job JobsDetail keeps Progress/Tag in ``extra``, an empty EndTime is None, NextToken is read."""
        jobs, _, token, _ = parse_response(JOB)
        (job,) = jobs
        assert job.type == "Job"
        assert job.operation["JobParam"] == {"TemplateId": "t1460606b9752148c4ab182f55163ba7cd"}
        assert job.extra == {"Progress": "40", "Tag": "Transcode"}
        assert job.end_time is None
        assert token == "25"

    def test_raw_preserves_detail(self) -> None:
        """``raw`` is the JobsDetail XML as received, re-readable to the same job."""
        (job,) = parse_response(JOB)[0]
        assert job.raw.startswith("<JobsDetail>") and "<Progress>40</Progress>" in job.raw
        assert Job.from_element(xmldoc.parse(job.raw.encode())) == job

    def test_immutable(self) -> None:
        """Jobs and their nested data cannot be changed in place."""
        (job,) = parse_response(JOB)[0]
        with pytest.raises(dataclasses.FrozenInstanceError):
            job.state = "Success"  # type: ignore[misc]
        with pytest.raises(TypeError):
            job.operation["Tag"] = "x"  # type: ignore[index]

    def test_to_dict_is_plain_json(self) -> None:
        """to_dict gives isoformat times with a colon in the offset and plain dicts."""
        (job,) = parse_response(JOB)[0]
        data = job.to_dict()
        assert data["startTime"] == "2022-06-27T15:23:11+08:00"
        assert data["endTime"] is None
        assert type(data["operation"]["Output"]) is dict

    @pytest.mark.parametrize("state", ["Success", "Failed", "Cancel"])
    def test_terminal_states(self, state: str) -> None:
        """Success, Failed and Cancel are terminal."""
        assert Job("b1", "Job", "n", state).terminal


class TestResponse:
    def test_non_exist_ids_in_every_form(self) -> None:
        """NonExistJobIds repeated, comma-joined, and the Go SDK's singular tag are all read, once each."""
        body = (
            b"<Response><RequestId>r</RequestId><NonExistJobIds>b1</NonExistJobIds>"
            b"<NonExistJobIds>b2,b3</NonExistJobIds><NonExistJobId>b4</NonExistJobId>"
            b"<NonExistJobIds>b1</NonExistJobIds></Response>"
        )
        assert parse_response(body)[1] == ("b1", "b2", "b3", "b4")

    @pytest.mark.parametrize(
        "body",
        [
            b"<Error><Code>x</Code></Error>",
            b"<Response><JobsDetail><JobId>b1</Jo",
        ],
        ids=["wrong-root", "truncated"],
    )
    def test_unreadable_response_is_transient(self, body: bytes) -> None:
        """A truncated or malformed answer from CI is a transient CIBadResponseError."""
        with pytest.raises(CIBadResponseError) as info:
            parse_response(body)
        assert isinstance(info.value, TransientError)

    def test_hostile_response_stays_unsafe(self) -> None:
        """A hostile answer is refused as unsafe, not retried."""
        with pytest.raises(UnsafeXMLError):
            parse_response(b'<!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]><Response>&x;</Response>')


class TestJobIds:
    @pytest.mark.parametrize("job_id", ["b3deffea2f84911ec9cb15254008618d9", "a", "A_b-9", "x" * 64])
    def test_valid(self, job_id: str) -> None:
        """1–64 characters of [A-Za-z0-9_-] are accepted."""
        assert is_valid_job_id(job_id)

    @pytest.mark.parametrize("job_id", ["", "x" * 65, "../etc", "a,b", "a b", "a/b", "ü", "a\n", "a.json"])
    def test_invalid(self, job_id: str) -> None:
        """Empty, long, traversal, separators and non-ASCII are refused."""
        assert not is_valid_job_id(job_id)


def test_unusable_entries_cost_only_themselves() -> None:
    """Entries without a JobId or State, or with an ID the store cannot hold, are skipped and named; the rest stand."""
    from jobwatch.ci.models import parse_page

    body = (b"<Response><JobsDetail><State>Running</State></JobsDetail>"
            b"<JobsDetail><JobId>b1</JobId></JobsDetail>"
            b"<JobsDetail><JobId>b.bad/../x</JobId><State>Running</State></JobsDetail>"
            b"<JobsDetail><JobId>b2</JobId><State>Success</State></JobsDetail></Response>")  # fmt: skip
    jobs, _, _, _, skipped = parse_page(body)
    assert [j.job_id for j in jobs] == ["b2"] and skipped == ("?", "b1", "b.bad/../x")
