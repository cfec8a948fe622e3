"""make bench's code, quickly (60 jobs, no added latency): it runs end to end and its counts hold. Timings are
the benchmark's business, not asserted here."""

from __future__ import annotations

from bench import sweep_bench


def test_sweep_bench_scenario_runs() -> None:
    """The SDK loop, the warm, quiet and cold sweeps all run against the emulator process; the quiet sweep writes
    nothing, the timed sweep needs far fewer CI requests than the SDK loop, and a row without latency (a floor of
    zero) prints no ratio to it."""
    figures = sweep_bench.scenario(60, latency=0.0)
    assert figures["ended"] == 6 and figures["steady_writes"] == 0
    assert figures["writes"] >= 12 and figures["requests"] * 5 < figures["sdk_requests"]
    assert figures["rss_mb"] > 0 and figures["rounds"] >= 2 and figures["sdk_s"] > 0
    assert figures["floor_s"] == 0 and "| — |" in sweep_bench.row(figures)


def test_sweep_bench_default_configuration_runs() -> None:
    """The default configuration's scenario (objects followed) runs and reuses the given SDK loop figure."""
    figures = sweep_bench.scenario(30, latency=0.0, runs=1, track=True, sdk_s=1.5)
    assert figures["ended"] == 3 and figures["sdk_s"] == 1.5 and figures["requests"] > 0


def test_import_probe_runs() -> None:
    """The import comparison measures both modules in fresh interpreters."""
    times = sweep_bench.import_times(runs=1)
    assert set(times) == {"index", "requests"} and all(t > 0 for t in times.values())


def test_fanout_bench_scenario_runs() -> None:
    """The many-buckets scenario runs both modes over six buckets: with half a second a request and a 1-second
    timeout the fan-out hands out shards that worker processes run, and every mode's sweep reaches CI."""
    from bench import fanout_bench

    figures = fanout_bench.measure(6, limit=1.0, concurrency=2, latency=0.5)
    assert figures["off"]["first"]["shards"] == 0 and figures["off"]["next"]["invocations"] == 1
    assert figures["auto"]["first"]["shards"] >= 1 and figures["auto"]["first"]["invocations"] > 1
    assert figures["off"]["next"]["ciRequests"] > 0 and figures["auto"]["next"]["ciRequests"] > 0


def test_backlog_bench_scenario_runs() -> None:
    """The delivery-backlog scenario drains 100 slow deliveries both ways, each event once; the split invokes shards."""
    from bench import backlog_bench

    one = backlog_bench.drain(100, delay=0.5, limit=4.0, mode="off")
    split = backlog_bench.drain(100, delay=0.5, limit=4.0, mode="auto")
    assert one["delivered"] == split["delivered"] == 100 and one["duplicates"] == split["duplicates"] == 0
    assert one["invocations"] == one["sweeps"] and split["invocations"] > split["sweeps"]
