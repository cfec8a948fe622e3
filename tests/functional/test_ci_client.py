"""The CI client against the emulator over real HTTP: list, describe, create, cancel, auth and faults."""

from __future__ import annotations

import math
from datetime import datetime, timezone

import pytest

from devkit.ciemu import CIEmulator, EmulatedJob
from jobwatch.ci import ACTIVE_STATES, CIClient
from jobwatch.config import Credentials
from jobwatch.deadline import Deadline
from jobwatch.errors import (
    CIAuthError,
    CIConnectionError,
    CIPermanentError,
    CITransientError,
    InvalidInputError,
)
from tests.functional.conftest import CREDENTIALS, Sleeps


def truth(emulator: CIEmulator) -> dict[str, str]:
    """The emulator's own view: job id → state now."""
    now = emulator.clock()
    return {job.job_id: job.state_at(now)[0] for job in emulator.book.all()}


class TestList:
    def test_lists_both_types(self, emulator: CIEmulator, client: CIClient) -> None:
        """Workflow and Job batches are both listed (the official SDK lists only Workflow)."""
        emulator.book.preload(30, seed=2)
        jobs = client.list_jobs()
        assert {j.job_id for j in jobs} == set(truth(emulator))
        assert {j.type for j in jobs} == {"Workflow", "Job"}

    def test_pagination_past_a_thousand(self, emulator: CIEmulator, client: CIClient) -> None:
        """1,234 jobs come back exactly once each, 100 per page, following NextToken to the end."""
        made = emulator.book.preload(1234, seed=3, spread=600)
        jobs = client.list_jobs()
        assert len(jobs) == 1234 and {j.job_id for j in jobs} == {j.job_id for j in made}
        per_type = [sum(1 for j in made if j.type == t) for t in ("Workflow", "Job")]
        assert emulator.served["list"] == sum(math.ceil(n / 100) for n in per_type)

    def test_last_page_without_next_token_element(self, emulator: CIEmulator, client: CIClient) -> None:
        """A last page that omits NextToken entirely also ends the listing."""
        emulator.options.last_page_token = "absent"
        emulator.book.preload(250, seed=4, job_type="Job")
        assert len(client.list_jobs(job_types=["Job"])) == 250
        assert emulator.served["list"] == 3

    def test_states_filter(self, emulator: CIEmulator, client: CIClient) -> None:
        """states=Submitted,Running,Pause returns exactly the active jobs."""
        emulator.book.preload(60, seed=5, duration=(5, 200))
        emulator.clock.advance(60)
        active = {i for i, s in truth(emulator).items() if s in ACTIVE_STATES}
        assert 0 < len(active) < 60
        assert {j.job_id for j in client.list_jobs(states=ACTIVE_STATES)} == active

    def test_creation_time_filter(self, emulator: CIEmulator, client: CIClient) -> None:
        """startCreationTime keeps only jobs created at or after it, sent in CI's time format."""
        made = emulator.book.preload(80, seed=6, spread=7200)
        cutoff = emulator.clock() - 3600
        since = datetime.fromtimestamp(int(cutoff), tz=timezone.utc)
        expected = {j.job_id for j in made if int(j.created_at) >= int(cutoff)}
        assert 0 < len(expected) < 80
        assert {j.job_id for j in client.list_jobs(start_creation_time=since)} == expected

    def test_name_and_job_id_filters(self, emulator: CIEmulator, client: CIClient) -> None:
        """name= and jobId= narrow the list to one job."""
        made = emulator.book.preload(10, seed=7)
        target = made[3]
        assert [j.job_id for j in client.list_jobs(name=target.name)] == [target.job_id]
        assert [j.job_id for j in client.list_jobs(job_id=target.job_id)] == [target.job_id]

    def test_ascending_order(self, emulator: CIEmulator, client: CIClient) -> None:
        """orderByTime=Asc lists oldest first."""
        emulator.book.preload(20, seed=8, spread=1000, job_type="Workflow")
        times = [j.creation_time for j in client.iter_jobs(job_type="Workflow", order="Asc")]
        assert times == sorted(times)  # type: ignore[type-var]

    def test_bad_filters_refused_locally(self, emulator: CIEmulator, client: CIClient) -> None:
        """A bad type, state or size is an InvalidInputError before any request."""
        for bad in ({"job_type": "Batch"}, {"job_type": "Job", "states": ["Done"]}, {"job_type": "Job", "size": 101}):
            with pytest.raises(InvalidInputError):
                client.list_page(**bad)  # type: ignore[arg-type]
        assert sum(emulator.served.values()) == 0


class TestDescribe:
    def test_multi_id_with_unknown_ids(self, emulator: CIEmulator, client: CIClient) -> None:
        """23 known and 2 unknown IDs take 3 comma-joined requests; the unknown ones are reported."""
        made = emulator.book.preload(23, seed=9)
        unknown = ["b" + "0" * 32, "b" + "f" * 32]
        result = client.describe([j.job_id for j in made] + unknown)
        assert [j.job_id for j in result.jobs] == [j.job_id for j in made]
        assert set(result.non_exist_job_ids) == set(unknown)
        assert emulator.served["describe"] == 3

    def test_batch_size_is_configurable(self, emulator: CIEmulator) -> None:
        """describe_batch_size=5 sends 5 IDs per request."""
        made = emulator.book.preload(25, seed=10)
        client = CIClient(emulator.url, CREDENTIALS, describe_batch_size=5)
        assert len(client.describe(j.job_id for j in made).jobs) == 25
        assert emulator.served["describe"] == 5

    def test_falls_back_when_lists_refused(self, emulator: CIEmulator, client: CIClient) -> None:
        """When CI refuses comma-joined IDs, each ID is described alone, and later calls skip the refused form."""
        emulator.options.multi_describe = False
        made = emulator.book.preload(12, seed=11)
        ids = [j.job_id for j in made]
        assert len(client.describe(ids).jobs) == 12
        first = emulator.served["describe"]
        assert first == 1 + 12
        assert len(client.describe(ids[:4]).jobs) == 4
        assert emulator.served["describe"] == first + 4

    @pytest.mark.parametrize("mode", ["nonexist", "not-found", "invalid"])
    def test_single_unknown_id_in_every_answer_form(self, emulator: CIEmulator, client: CIClient, mode: str) -> None:
        """An unknown single ID is reported as non-existent whether CI answers 200 or 400."""
        emulator.options.unknown_id = mode
        result = client.describe(["b" + "1" * 32])
        assert result.jobs == () and result.non_exist_job_ids == ("b" + "1" * 32,)

    def test_ids_silently_dropped_are_asked_again(self, emulator: CIEmulator, client: CIClient) -> None:
        """IDs a multi-ID answer neither returns nor lists as missing are described one by one."""
        made = emulator.book.preload(3, seed=12)
        original = emulator.describe

        def first_only(segment: str) -> bytes:
            return original(segment.split(",")[0])  # a CI that reads only the first ID

        emulator.describe = first_only  # type: ignore[method-assign]
        result = client.describe([j.job_id for j in made])
        assert {j.job_id for j in result.jobs} == {j.job_id for j in made}

    def test_sees_progress(self, emulator: CIEmulator, client: CIClient) -> None:
        """A job moves from Submitted to a terminal state with start and end times as time passes."""
        (job,) = emulator.book.preload(1, seed=13, duration=(10, 10))
        assert client.describe([job.job_id]).jobs[0].state == "Submitted"
        emulator.clock.advance(30)
        later = client.describe([job.job_id]).jobs[0]
        assert later.terminal and later.start_time is not None and later.end_time is not None
        assert later.end_time >= later.start_time

    @pytest.mark.parametrize("bad", ["", "../../etc/passwd", "a,b", "x" * 65, "b1?cancel"])
    def test_bad_ids_refused_locally(self, emulator: CIEmulator, client: CIClient, bad: str) -> None:
        """Malformed IDs raise InvalidInputError and send nothing."""
        with pytest.raises(InvalidInputError):
            client.describe([bad])
        assert sum(emulator.served.values()) == 0


class TestCreateAndCancel:
    def test_create_then_describe(self, emulator: CIEmulator, client: CIClient) -> None:
        """create returns a Submitted job that describe then finds."""
        job = client.create(
            name="transcode-all",
            job_type="Job",
            input={"Prefix": "videos/"},
            operation={"Tag": "Transcode", "JobParam": {"TemplateId": "t1abc"}, "QueueId": "p1"},
        )
        assert job.state == "Submitted" and job.type == "Job" and job.operation["Tag"] == "Transcode"
        assert client.describe([job.job_id]).jobs[0].name == "transcode-all"

    def test_create_refused_by_ci(self, emulator: CIEmulator, client: CIClient) -> None:
        """A create CI refuses (no WorkflowIds) raises CIPermanentError with CI's code."""
        with pytest.raises(CIPermanentError) as info:
            client.create(name="x", job_type="Workflow", input={"Prefix": "a/"}, operation={"Other": "1"})
        assert info.value.ci_code == "InvalidArgument" and info.value.status == 400

    def test_cancel_running_job(self, emulator: CIEmulator, client: CIClient) -> None:
        """Cancelling an active job makes it Cancel."""
        (job,) = emulator.book.preload(1, seed=14, duration=(100, 100))
        client.cancel(job.job_id)
        assert client.describe([job.job_id]).jobs[0].state == "Cancel"

    def test_cancel_finished_job(self, emulator: CIEmulator, client: CIClient) -> None:
        """Cancelling a finished job is a permanent error, not retried."""
        (job,) = emulator.book.preload(1, seed=15, duration=(1, 1))
        emulator.clock.advance(60)
        with pytest.raises(CIPermanentError):
            client.cancel(job.job_id)
        assert emulator.served["cancel"] == 1


class TestAuth:
    def test_wrong_key(self, emulator: CIEmulator) -> None:
        """A wrong secret key is InvalidAuthorization, with request and trace ids, and is not retried."""
        client = CIClient(emulator.url, Credentials(CREDENTIALS.secret_id, "wrong-key"))
        with pytest.raises(CIAuthError) as info:
            client.list_page(job_type="Job")
        err = info.value
        assert (err.status, err.ci_code) == (401, "InvalidAuthorization")
        assert err.request_id and err.trace_id
        assert emulator.served["list"] == 1

    def test_unknown_secret_id(self, emulator: CIEmulator) -> None:
        """An unknown SecretId is SecretidNotExist."""
        client = CIClient(emulator.url, Credentials("AKIDnobody", CREDENTIALS.secret_key))
        with pytest.raises(CIAuthError, match="SecretidNotExist"):
            client.list_page(job_type="Job")

    def test_clock_far_behind(self, emulator: CIEmulator) -> None:
        """A signature whose key time has passed is SignatureExpired."""
        client = CIClient(emulator.url, CREDENTIALS, clock=lambda: emulator.clock() - 7200)
        with pytest.raises(CIAuthError, match="SignatureExpired"):
            client.list_page(job_type="Job")

    def test_temporary_credentials(self, emulator: CIEmulator) -> None:
        """With temporary keys the token travels as x-ci-security-token; a missing one is refused."""
        emulator.options.token = "session-token"
        good = CIClient(emulator.url, Credentials(CREDENTIALS.secret_id, CREDENTIALS.secret_key, "session-token"))
        assert good.list_page(job_type="Job").jobs == ()
        with pytest.raises(CIAuthError):
            CIClient(emulator.url, CREDENTIALS).list_page(job_type="Job")

    def test_official_sdk_drives_the_emulator(self, emulator: CIEmulator) -> None:
        """The official cos-python-sdk-v5 lists, describes and cancels against the emulator: its signatures pass."""
        from qcloud_cos import CosConfig, CosS3Client

        (job,) = emulator.book.preload(1, seed=16, job_type="Workflow", duration=(100, 100))
        port = int(emulator.url.rsplit(":", 1)[1])
        conf = CosConfig(
            Region="ap-guangzhou",
            SecretId=CREDENTIALS.secret_id,
            SecretKey=CREDENTIALS.secret_key,
            Scheme="http",
            IP="127.0.0.1",
            Port=port,
        )
        sdk = CosS3Client(conf, retry=0)
        listed = sdk.ci_list_inventory_trigger_jobs(Bucket="demo-1250000000")
        assert listed["JobsDetail"][0]["JobId"] == job.job_id
        assert sdk.ci_get_inventory_trigger_jobs(Bucket="demo-1250000000", JobID=job.job_id)["JobsDetail"][0]["State"]
        assert sdk.ci_delete_inventory_trigger_jobs(Bucket="demo-1250000000", JobId=job.job_id).status_code == 200
        assert truth(emulator)[job.job_id] == "Cancel"
        assert not emulator.auth_failures


class TestFaults:
    @pytest.mark.parametrize("fault", ["500", "503", "429", "malformed", "truncated", "drop"])
    def test_one_fault_recovered(self, emulator: CIEmulator, client: CIClient, sleeps: Sleeps, fault: str) -> None:
        """Each injected fault is retried once after a backoff and the call succeeds."""
        made = emulator.book.preload(5, seed=17, job_type="Job")
        emulator.faults.script.append(fault)
        assert {j.job_id for j in client.list_jobs(job_types=["Job"])} == {j.job_id for j in made}
        assert emulator.injected[fault] == 1 and len(sleeps) == 1

    def test_retry_after_honoured(self, emulator: CIEmulator, client: CIClient, sleeps: Sleeps) -> None:
        """429 SlowDown with Retry-After: 3 waits at least 3 seconds before the retry."""
        emulator.faults.retry_after = 3
        emulator.faults.script.append("429")
        client.list_page(job_type="Job")
        assert sleeps == [3.0]

    def test_backoff_grows_with_full_jitter(self, emulator: CIEmulator) -> None:
        """Backoff waits are drawn from [0, base·2^n], capped: with rng=1 they double."""
        waits: list[float] = []
        client = CIClient(
            emulator.url,
            CREDENTIALS,
            sleep=waits.append,
            rng=lambda: 1.0,
            backoff_base=0.5,
            backoff_cap=3.0,
            max_attempts=6,
        )
        emulator.faults.script.extend(["500"] * 5)
        client.list_page(job_type="Job")
        assert waits == [0.5, 1.0, 2.0, 3.0, 3.0]

    def test_outage_reported_after_max_attempts(self, emulator: CIEmulator, client: CIClient) -> None:
        """A lasting outage raises CITransientError after max_attempts requests."""
        emulator.faults.error_ratio = 1.0
        with pytest.raises(CITransientError) as info:
            client.list_page(job_type="Job")
        assert info.value.status == 500 and info.value.ci_code == "InternalError"
        assert emulator.served["list"] == 5

    def test_create_not_retried_after_ambiguous_failure(self, emulator: CIEmulator, client: CIClient) -> None:
        """A 500 on create is raised at once: the job may exist, and a retry could start a duplicate."""
        emulator.faults.script.append("500")
        with pytest.raises(CITransientError):
            client.create(name="n", job_type="Workflow", input={"Prefix": "a/"}, operation={"WorkflowIds": "w1"})
        assert emulator.served["create"] == 1

    def test_create_not_retried_after_dropped_connection(self, emulator: CIEmulator, client: CIClient) -> None:
        """A connection dropped after sending a create is ambiguous too: no retry."""
        emulator.faults.script.append("drop")
        with pytest.raises(CIConnectionError) as info:
            client.create(name="n", job_type="Workflow", input={"Prefix": "a/"}, operation={"WorkflowIds": "w1"})
        assert info.value.maybe_applied

    def test_create_retried_when_throttled(self, emulator: CIEmulator, client: CIClient) -> None:
        """429 SlowDown means CI did not take the create: it is retried and exactly one job exists."""
        emulator.faults.script.append("429")
        client.create(name="n", job_type="Workflow", input={"Prefix": "a/"}, operation={"WorkflowIds": "w1"})
        assert emulator.served["create"] == 2 and len(emulator.book.all()) == 1

    def test_deadline_bounds_a_slow_ci(self, emulator: CIEmulator, client: CIClient) -> None:
        """With 2 s of latency and 0.3 s left, the call gives up with CIConnectionError instead of waiting."""
        emulator.faults.latency = 2.0
        with pytest.raises(CIConnectionError):
            client.list_page(job_type="Job", deadline=Deadline.after(0.3))

    def test_connection_refused_is_transient(self) -> None:
        """Nothing listening: a transient error that says the request never reached CI."""
        client = CIClient("http://127.0.0.1:9", CREDENTIALS, sleep=lambda s: None, max_attempts=2)
        with pytest.raises(CIConnectionError) as info:
            client.list_page(job_type="Job")
        assert info.value.maybe_applied is False

    def test_flaky_ci_under_load(self, emulator: CIEmulator, client: CIClient) -> None:
        """With 20% of answers failing in mixed ways, a 600-job listing and describe still come back whole."""
        made = emulator.book.preload(600, seed=18)
        emulator.faults.error_ratio = 0.05
        emulator.faults.throttle_ratio = 0.05
        emulator.faults.truncated_ratio = 0.05
        emulator.faults.drop_ratio = 0.05
        emulator.faults.retry_after = 0
        client._max_attempts = 10
        assert len(client.list_jobs()) == 600
        result = client.describe(j.job_id for j in made[:200])
        assert len(result.jobs) == 200 and result.non_exist_job_ids == ()
        assert sum(emulator.injected.values()) > 0


def test_emulated_job_schedule_with_pause() -> None:
    """A job with a pause goes Submitted → Running → Pause → Running → final."""
    job = EmulatedJob("b1", "Job", "n", 0.0, {}, {}, submitted_for=1, running_for=9, pause_after=3, pause_for=5)
    states = [job.state_at(t)[0] for t in (0.5, 2, 4.5, 9.5, 15)]
    assert states == ["Submitted", "Running", "Pause", "Running", "Success"]


def test_official_sdk_reads_the_emulators_error_codes(emulator: CIEmulator) -> None:
    """The emulator's <Error> bodies carry what cos-python-sdk-v5 needs (Resource too) to read CI's error code."""
    from qcloud_cos import CosConfig, CosS3Client
    from qcloud_cos.cos_exception import CosServiceError

    port = int(emulator.url.rsplit(":", 1)[1])
    conf = CosConfig(Region="ap-guangzhou", SecretId=CREDENTIALS.secret_id, SecretKey="wrong-key", Scheme="http",
                     IP="127.0.0.1", Port=port)  # fmt: skip
    with pytest.raises(CosServiceError) as caught:
        CosS3Client(conf, retry=0).ci_get_inventory_trigger_jobs(Bucket="demo-1250000000", JobID="b1")
    error = caught.value
    assert error.get_error_code() == "InvalidAuthorization" and error.get_status_code() == 401
    assert error.get_request_id() != "Unknown" and error.get_resource_location().endswith("/inventorytriggerjob/b1")


class TestWindowedListing:
    def test_windows_list_the_same_jobs_as_one_listing(self, emulator: CIEmulator, client: CIClient) -> None:
        """Active jobs listed in creation-time windows side by side: the same jobs as one NextToken listing, none
        twice, including the many created in the very second of an edge."""
        import random

        from devkit.ciemu.jobs import sample_job
        from jobwatch.ci.windows import edges_for

        rng = random.Random(41)
        base = int(emulator.clock()) - 2000
        for n in range(700):  # seven jobs a second: every edge falls on a second other jobs share
            emulator.book.add(sample_job(rng, base + n // 7 + rng.random() * 0.9, duration=(5000, 6000)))
        whole = client.list_jobs(states=ACTIVE_STATES)
        edges = {kind: edges_for([j.creation_time for j in whole if j.type == kind and j.creation_time], 40)
                 for kind in ("Workflow", "Job")}  # fmt: skip
        before = emulator.served["list"]
        split = client.list_jobs(states=ACTIVE_STATES, edges=edges)
        assert len(split) == len(whole) == 700 and {j.job_id for j in split} == {j.job_id for j in whole}
        windows = sum(len(e) + 1 for e in edges.values())
        assert windows >= 16 and emulator.served["list"] - before >= windows  # each window is its own listing

    def test_throttling_shrinks_the_requests_in_flight(self, emulator: CIEmulator, client: CIClient) -> None:
        """A 429 halves how many requests the client keeps in flight; the listing still completes."""
        emulator.book.preload(30, seed=42, duration=(5000, 6000))
        emulator.faults.script.extend(["429", "429"])
        assert len(client.list_jobs(states=ACTIVE_STATES)) == 30
        assert client.pacer.current < client.pacer.limit
