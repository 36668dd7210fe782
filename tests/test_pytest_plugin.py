"""Tests for brace's pytest plugin, run in-process on inner suites (pytester)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from brace import _pytest_plugin

pytest_plugins = ["pytester"]

Run = Callable[..., pytest.RunResult]


@pytest.fixture
def run(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> Run:
    """Run the inner suite with exactly the plugins named, brace's loaded by -p."""
    # Without autoloading, the inner run does not depend on whether brace's
    # entry point is installed yet (loading the module twice, by -p and by
    # the entry point, would be an error).
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")

    def run(*args: str, asyncio: bool = True) -> pytest.RunResult:
        options = [
            "-p",
            "anyio",
            "-p",
            "brace._pytest_plugin",
            "-p",
            "no:cacheprovider",
        ]
        # The outer run has imported these modules already.
        options += ["-W", "ignore::pytest.PytestAssertRewriteWarning"]
        if asyncio:
            options += [
                "-p",
                "asyncio",
                "-o",
                "asyncio_default_fixture_loop_scope=function",
            ]
        return pytester.runpytest_inprocess(*options, "-q", *args)

    return run


def test_fixtures_are_listed(run: Run) -> None:
    """pytest --fixtures shows every brace fixture with its docstring."""
    result = run("--fixtures")
    for name in (
        "brace_anyio_backend",
        "brace_chaos",
        "brace_events",
        "brace_instant",
        "brace_virtual_loop",
    ):
        result.stdout.fnmatch_lines([f"{name}*"])
    assert result.ret == 0


def test_instant_fixture(pytester: pytest.Pytester, run: Run) -> None:
    """brace_instant turns instant mode on for the tests that ask, only them."""
    pytester.makepyfile(
        """
        from brace import _time


        def test_instant(brace_instant):
            assert _time.instant_mode() is not None


        def test_not_instant_without_fixture():
            assert _time.instant_mode() is None
        """
    )
    run().assert_outcomes(passed=2)


def test_events_and_chaos_fixtures(pytester: pytest.Pytester, run: Run) -> None:
    """brace_events records and brace_chaos enables, for the test only."""
    pytester.makepyfile(
        """
        import brace
        import brace.testing
        from brace import _events


        def test_events_and_chaos(brace_events, brace_chaos, brace_virtual_loop):
            chaos = brace.testing.Chaos(fault=ConnectionError, name="db")
            assert chaos.is_enabled

            one_second = brace.Backoff.constant(1)

            @brace.retry(on=ConnectionError, attempts=2, backoff=one_second)
            @chaos
            async def fetch():
                return "real"

            try:
                brace_virtual_loop.run_until_complete(fetch())
            except ConnectionError:
                pass
            brace.testing.assert_retried(brace_events, times=1, delays=[1])
            assert brace_events.kinds().count("ChaosInjected") == 2


        def test_no_leftovers():
            assert _events._subscribers == []
            assert not brace.testing.Chaos(latency=1).is_enabled
        """
    )
    run().assert_outcomes(passed=2)


def test_virtual_loop_fixture(pytester: pytest.Pytester, run: Run) -> None:
    """brace_virtual_loop runs coroutines on virtual time and is closed after."""
    pytester.makepyfile(
        """
        import asyncio

        import brace.testing

        LOOPS = []


        def test_sleeps_instantly(brace_virtual_loop):
            assert isinstance(brace_virtual_loop, brace.testing.VirtualTimeEventLoop)
            brace_virtual_loop.run_until_complete(asyncio.sleep(3600))
            assert brace_virtual_loop.time() == 3600
            LOOPS.append(brace_virtual_loop)


        def test_closed_after():
            assert LOOPS[0].is_closed()
        """
    )
    run().assert_outcomes(passed=2)


ANYIO_SUITE = """
import anyio
import pytest

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend(brace_anyio_backend):
    return brace_anyio_backend


async def test_sleep_is_exact(anyio_backend_name):
    start = anyio.current_time()
    await anyio.sleep(60)
    assert anyio.current_time() - start == 60
"""


def test_anyio_backend_runs_both_backends(pytester: pytest.Pytester, run: Run) -> None:
    """brace_anyio_backend runs an anyio test on asyncio and trio, virtual time."""
    pytester.makepyfile(ANYIO_SUITE)
    result = run("-vv")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(
        ["*test_sleep_is_exact?asyncio? PASSED*", "*test_sleep_is_exact?trio? PASSED*"]
    )


def test_anyio_backends_ini(pytester: pytest.Pytester, run: Run) -> None:
    """The brace_anyio_backends ini option picks the backends (duplicates once)."""
    pytester.makeini("[pytest]\nbrace_anyio_backends = trio trio\n")
    pytester.makepyfile(ANYIO_SUITE)
    result = run("-vv")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*test_sleep_is_exact?trio? PASSED*"])


def test_anyio_backends_ini_rejects_unknown(
    pytester: pytest.Pytester, run: Run
) -> None:
    """An unknown backend name is a usage error that says what to use."""
    pytester.makeini("[pytest]\nbrace_anyio_backends = asyncio curio\n")
    pytester.makepyfile(ANYIO_SUITE)
    result = run()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*unknown backend 'curio'; use asyncio, trio*"])


def test_default_backends_without_trio(
    pytester: pytest.Pytester, run: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without trio installed, the default is asyncio alone."""
    monkeypatch.setattr(_pytest_plugin, "_trio_installed", lambda: False)
    pytester.makepyfile(ANYIO_SUITE)
    run().assert_outcomes(passed=1)


def test_asking_for_trio_without_trio(
    pytester: pytest.Pytester, run: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Listing trio when it is not installed is a usage error."""
    monkeypatch.setattr(_pytest_plugin, "_trio_installed", lambda: False)
    pytester.makeini("[pytest]\nbrace_anyio_backends = trio\n")
    pytester.makepyfile(ANYIO_SUITE)
    result = run()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*lists trio, which is not installed*"])


def test_backend_fixture_requested_dynamically(
    pytester: pytest.Pytester, run: Run
) -> None:
    """Requested through getfixturevalue (not parametrized), it is virtual asyncio."""
    pytester.makepyfile(
        """
        import brace.testing


        def test_dynamic(request):
            name, options = request.getfixturevalue("brace_anyio_backend")
            assert name == "asyncio"
            assert options == {"loop_factory": brace.testing.VirtualTimeEventLoop}
        """
    )
    run().assert_outcomes(passed=1)


ASYNCIO_SUITE = """
import asyncio

import pytest

import brace.testing


@pytest.mark.asyncio
async def test_loop_kind():
    loop = asyncio.get_running_loop()
    virtual = isinstance(loop, brace.testing.VirtualTimeEventLoop)
    print(f"VIRTUAL={virtual}")
    if virtual:
        start = loop.time()
        await asyncio.sleep(3600)
        assert loop.time() - start == 3600
"""


def test_pytest_asyncio_untouched_by_default(
    pytester: pytest.Pytester, run: Run
) -> None:
    """Without the opt-in, pytest-asyncio tests keep their ordinary loop."""
    pytester.makepyfile(ASYNCIO_SUITE)
    result = run("-s")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*VIRTUAL=False*"])


@pytest.mark.parametrize(
    ("option", "ini"),
    [("--brace-virtual-time", ""), ("", "[pytest]\nbrace_virtual_time = true\n")],
)
def test_virtual_time_opt_in(
    pytester: pytest.Pytester, run: Run, option: str, ini: str
) -> None:
    """--brace-virtual-time or the ini option puts pytest-asyncio on virtual time."""
    if ini:
        pytester.makeini(ini)
    pytester.makepyfile(ASYNCIO_SUITE)
    result = run("-s", *([option] if option else []))
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*VIRTUAL=True*"])


def test_users_own_loop_hook_wins(pytester: pytest.Pytester, run: Run) -> None:
    """A conftest's pytest_asyncio_loop_factories overrides brace's."""
    pytester.makeconftest(
        """
        import asyncio


        def pytest_asyncio_loop_factories(config, item):
            return {"plain": asyncio.new_event_loop}
        """
    )
    pytester.makepyfile(ASYNCIO_SUITE)
    result = run("-s", "--brace-virtual-time")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*VIRTUAL=False*"])


def test_virtual_time_needs_the_hook(pytester: pytest.Pytester, run: Run) -> None:
    """Without pytest-asyncio's hook, the opt-in is a usage error with advice."""
    pytester.makepyfile("def test_nothing():\n    pass\n")
    result = run("--brace-virtual-time", asyncio=False)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*needs pytest-asyncio 1.4 or later*"])
